"""What the console pages use: the staff facades, labels, the form, the office's time zone."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.deliveries import Deliveries
from bot.dialogs.form import FormRegistry
from bot.staff.broadcasts import BroadcastService
from bot.staff.casework import Casework
from bot.staff.export import CaseExporter
from bot.staff.helpdesk import HelpDesk
from bot.staff.labels import Labels
from bot.storage.db import Database

if TYPE_CHECKING:
    from bot.services import Services

FLASH_COOKIE = "xf_flash"
FLASH_MAX = 600  # characters kept of a flash message (the cookie must stay small)


@dataclass
class Console:
    """The services the console pages call."""

    casework: Casework
    broadcasts: BroadcastService
    exporter: CaseExporter
    deliveries: Deliveries
    helpdesk: HelpDesk
    labels: Labels
    forms: FormRegistry
    tz: ZoneInfo
    clock: Callable[[], datetime]
    db: Database

    def local(self, when: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A stored UTC time as the office's local time ("" for none)."""
        return when.astimezone(self.tz).strftime(fmt) if when else ""


CONSOLE = web.AppKey("console", Console)


def build_console(services: Services) -> Console:
    """The console's services from the application's (labels are loaded and checked once)."""
    s = services.settings
    return Console(
        casework=services.casework,
        broadcasts=services.broadcasts,  # shared with the API: wakes the worker on start
        exporter=services.exporter,
        deliveries=services.deliveries,  # shared with the API: wakes the worker on retry
        helpdesk=HelpDesk(services.db, services.casework.clock),
        labels=services.exporter.labels,
        forms=services.engine.forms,
        tz=ZoneInfo(s.timezone),
        clock=services.casework.clock,
        db=services.db,
    )


def console(request: web.Request) -> Console:
    """The console services of the running application."""
    return request.app[CONSOLE]


def flash(response: web.StreamResponse, kind: str, message: str) -> None:
    """A one-time message for the next page (a short-lived cookie, read by the next render)."""
    value = urllib.parse.quote(f"{kind}:{message[:FLASH_MAX]}", safe="")
    response.set_cookie(
        FLASH_COOKIE, value, max_age=120, path="/staff", httponly=True, samesite="Strict"
    )


def take_flash(request: web.Request) -> tuple[str, str] | None:
    """The pending one-time message (kind "ok" or "error", text), if any."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    kind, _, message = urllib.parse.unquote(raw).partition(":")
    return ("error" if kind == "error" else "ok"), message[:FLASH_MAX]
