"""GET /staff/audit: the audit log for admins — filter by date range, account, action and
case; newest first; action names in the console language (the code in the title)."""

from __future__ import annotations

import urllib.parse
from datetime import date

from aiohttp import web

from bot.staff.access import Permission
from bot.staff.actions import CASE_ACTIONS
from bot.web.api_models import plausible_day
from bot.web.auth import STAFF_AUTH, require
from bot.web.console import lang_of, render
from bot.web.console_deps import console
from bot.web.i18n import TEXTS, translate

PAGE = 100
_LABEL = "audit.a."  # i18n keys of the actions that are not case actions


def action_label(code: str, lang: str) -> str:
    """An audit action's name in ``lang``: its own label, a case action's, or the code."""
    for key in (_LABEL + code, "action." + code.removeprefix("case.")):
        text = translate(lang, key)
        if text != key:
            return text
    return code


def action_codes() -> list[str]:
    """Every audit action the console names (for the filter's suggestions)."""
    own = [k.removeprefix(_LABEL) for k in TEXTS["zh"] if k.startswith(_LABEL)]
    return sorted({*own, *(f"case.{a}" for a in CASE_ACTIONS if a != "flag")})


def _day(raw: str) -> date | None:
    """A date filter's day; None when empty, malformed or implausible."""
    try:
        return plausible_day(date.fromisoformat(raw)) if raw else None
    except ValueError:
        return None


async def audit_page(request: web.Request) -> web.Response:
    """Audit entries, newest first, paged by id (``before`` = the last id seen)."""
    member = require(request, Permission.AUDIT_READ)
    deps = console(request)
    lang = lang_of(request)
    query = request.query
    filters = {
        "actor": query.get("actor", "").strip()[:64],
        "action": query.get("action", "").strip()[:48],
        "case": query.get("case", "").strip()[:40],
        "since": query.get("since", "").strip()[:10],
        "until": query.get("until", "").strip()[:10],
    }
    raw_before = query.get("before", "")
    before = int(raw_before) if raw_before.isdigit() and len(raw_before) <= 18 else None
    rows, numbers = await deps.casework.audit_log(
        member,
        actor=filters["actor"],
        action=filters["action"],
        tracking_no=filters["case"],
        since=_day(filters["since"]),
        until=_day(filters["until"]),
        before_id=before,
        limit=PAGE + 1,
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    given = {k: v for k, v in filters.items() if v}
    accounts = await request.app[STAFF_AUTH].accounts.all()
    context = {
        "rows": rows,
        "numbers": numbers,
        "filters": filters,
        "labels": {r.action: action_label(r.action, lang) for r in rows},
        "actions": [(code, action_label(code, lang)) for code in action_codes()],
        "logins": sorted(a.login for a in accounts),
        "older": urllib.parse.urlencode({**given, "before": rows[-1].id}) if more else "",
        "newest": urllib.parse.urlencode(given),
        "paged": before is not None,
    }
    return render(request, "audit.html", context)


def add_routes(app: web.Application) -> None:
    """The audit log page."""
    app.router.add_get("/staff/audit", audit_page)
