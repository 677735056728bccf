"""Mount the staff console and the JSON API on the application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.web import (
    api,
    console,
    console_audit,
    console_broadcasts,
    console_cases,
    console_dashboard,
    console_deliveries,
    console_help,
)
from bot.web.api_routes import ApiServices
from bot.web.auth import STAFF_AUTH, LoginThrottle, StaffAuth, staff_middleware
from bot.web.console_deps import CONSOLE, build_console

if TYPE_CHECKING:
    from bot.services import Services


def install(app: web.Application, services: Services) -> None:
    """Authentication middleware, templates and the /staff and /api/v1 routes."""
    s = services.settings
    throttle = LoginThrottle(s.staff_login_per_ip_per_minute)
    app[STAFF_AUTH] = StaffAuth(
        services.accounts, s.web_cookie_secure, throttle, refusal_page=console.refusal_page
    )
    app[CONSOLE] = build_console(services)
    app.middlewares.append(staff_middleware)
    console.setup_templates(app)
    console.add_routes(app)
    console_dashboard.add_routes(app)
    console_cases.add_routes(app)
    console_broadcasts.add_routes(app)
    console_deliveries.add_routes(app)
    console_help.add_routes(app)
    console_audit.add_routes(app)
    api.add_routes(app, ApiServices.of(services))
