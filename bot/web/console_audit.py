"""GET /staff/audit: the audit log for admins — filter by actor, action, case; newest first."""

from __future__ import annotations

import urllib.parse

from aiohttp import web
from sqlalchemy import select

from bot.cases.tracking import parse_tracking_no
from bot.staff.access import Permission
from bot.storage import cases as case_store
from bot.storage.staff import list_audit
from bot.storage.tables import cases
from bot.web.auth import require
from bot.web.console import render
from bot.web.console_deps import console

PAGE = 100


async def audit_page(request: web.Request) -> web.Response:
    """Audit entries, newest first, paged by id (``before`` = the last id seen)."""
    require(request, Permission.AUDIT_READ)
    deps = console(request)
    actor = request.query.get("actor", "").strip()[:64]
    action = request.query.get("action", "").strip()[:64]
    number = request.query.get("case", "").strip()[:40]
    try:
        before = int(request.query.get("before", "")) if request.query.get("before") else None
    except ValueError:
        before = None
    async with deps.db.read() as conn:
        case_id: int | None = None
        unknown_case = False
        if number:
            parsed = parse_tracking_no(number)
            found = (
                await case_store.by_tracking_no(conn, parsed.canonical)
                if parsed.outcome == "valid"
                else None
            )
            case_id, unknown_case = (found.id, False) if found else (None, True)
        rows = (
            []
            if unknown_case
            else await list_audit(
                conn, actor=actor, action=action, case_id=case_id, before_id=before, limit=PAGE + 1
            )
        )
        more = len(rows) > PAGE
        rows = rows[:PAGE]
        ids = sorted({r.case_id for r in rows if r.case_id is not None})
        numbers: dict[int, str] = {}
        if ids:  # one query for the page's cases
            result = await conn.execute(
                select(cases.c.id, cases.c.tracking_no).where(cases.c.id.in_(ids))
            )
            numbers = {int(i): str(n) for i, n in result}
    filters = {"actor": actor, "action": action, "case": number}
    given = {k: v for k, v in filters.items() if v}
    context = {
        "rows": rows,
        "numbers": numbers,
        "filters": filters,
        "older": urllib.parse.urlencode({**given, "before": rows[-1].id}) if more else "",
        "newest": urllib.parse.urlencode(given),
        "paged": before is not None,
    }
    return render(request, "audit.html", context)


def add_routes(app: web.Application) -> None:
    """The audit log page."""
    app.router.add_get("/staff/audit", audit_page)
