"""Mount the staff console and the JSON API on the application."""

from __future__ import annotations

from aiohttp import web

from bot.staff.accounts import StaffAccounts
from bot.web import console
from bot.web.auth import STAFF_AUTH, LoginThrottle, StaffAuth, staff_middleware


def install(
    app: web.Application, accounts: StaffAccounts, *, cookie_secure: bool, login_per_minute: int
) -> None:
    """Authentication middleware, templates and the /staff and /api/v1 routes."""
    app[STAFF_AUTH] = StaffAuth(accounts, cookie_secure, LoginThrottle(login_per_minute))
    app.middlewares.append(staff_middleware)
    console.setup_templates(app)
    console.add_routes(app)
