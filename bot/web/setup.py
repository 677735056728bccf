"""Mount the staff console and the JSON API on the application."""

from __future__ import annotations

from aiohttp import web

from bot.staff.accounts import StaffAccounts
from bot.web import (
    console,
    console_audit,
    console_broadcasts,
    console_cases,
    console_dashboard,
)
from bot.web.auth import STAFF_AUTH, LoginThrottle, StaffAuth, staff_middleware
from bot.web.console_deps import CONSOLE, build_console


def install(
    app: web.Application, accounts: StaffAccounts, *, cookie_secure: bool, login_per_minute: int
) -> None:
    """Authentication middleware, templates and the /staff and /api/v1 routes."""
    from bot.app import SERVICES  # bot.app imports this module

    app[STAFF_AUTH] = StaffAuth(accounts, cookie_secure, LoginThrottle(login_per_minute))
    app[CONSOLE] = build_console(app[SERVICES])
    app.middlewares.append(staff_middleware)
    console.setup_templates(app)
    console.add_routes(app)
    console_dashboard.add_routes(app)
    console_cases.add_routes(app)
    console_broadcasts.add_routes(app)
    console_audit.add_routes(app)
