"""GET /staff/deliveries: failed and stuck messages with their reason; retry and cancel them,
one row or a selection (permission ``outbox``; every change audited by :class:`Deliveries`).

Citizens appear only as the pseudonyms the logs use; a message's text is shown to roles
with ``case.pii`` only.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.deliveries import Deliveries, UnknownCase
from bot.logging import mask_id, mask_text
from bot.staff.access import Permission, StaffMember
from bot.staff.pii_policy import PiiPolicy
from bot.storage.outbox import CANCEL_FROM, PROBLEMS, RETRY_FROM, StaffOutcome
from bot.web.auth import client_ip, require
from bot.web.console import lang_of, render
from bot.web.console_cases import CHANNELS
from bot.web.console_deps import console, flash
from bot.web.i18n import translate

PATH = "/staff/deliveries"
PER_PAGE = 50
MAX_IDS = 200  # rows one form post may act on
TEXT_CHARS = 160  # of a message shown in the list
ERROR_CHARS = 300  # of the platform's words


@dataclass(frozen=True, slots=True)
class Filters:
    """The page's filters as accepted (unknown values dropped)."""

    state: str = ""  # "" | "failed" | "stuck"
    channel: str = ""
    case: str = ""  # a tracking number as typed
    page: int = 1

    @classmethod
    def parse(cls, values: Mapping[str, str]) -> Filters:
        """From a query string (or the ``back`` field of a form post)."""
        state = values.get("state", "")
        channel = values.get("channel", "")
        try:
            page = max(1, min(int(values.get("page", "1")), 10_000))
        except ValueError:
            page = 1
        return cls(
            state=state if state in PROBLEMS else "",
            channel=channel if channel in CHANNELS else "",
            case=values.get("case", "").strip()[:40],
            page=page,
        )

    def query_string(self, **changes: Any) -> str:
        """The filters as a query string, with some changed; empty values left out."""
        values = {"state": self.state, "channel": self.channel, "case": self.case}
        values["page"] = str(self.page)
        values.update({k: str(v) for k, v in changes.items()})
        if values["page"] == "1":
            del values["page"]
        return urllib.parse.urlencode({k: v for k, v in values.items() if v})


def _text(member: StaffMember, text: str) -> str | None:
    """A message's text for this member: None without case.pii (:class:`PiiPolicy`)."""
    if PiiPolicy.of(member).message_text(text) is None:
        return None
    return text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS] + "…"


def _error(error: str) -> str:
    """The platform's words, numbers that look personal masked, shortened."""
    error = mask_text(error)
    return error if len(error) <= ERROR_CHARS else error[:ERROR_CHARS] + "…"


async def deliveries_page(request: web.Request) -> web.Response:
    """GET /staff/deliveries: the problem list, newest first, with its filters."""
    member = require(request, Permission.OUTBOX)
    desk = console(request).deliveries
    lang = lang_of(request)
    filters = Filters.parse(request.query)
    error = ""
    try:
        page = await desk.problems(
            problem=filters.state or None,
            channel=filters.channel or None,
            tracking_no=filters.case,
            limit=PER_PAGE,
            offset=(filters.page - 1) * PER_PAGE,
        )
        items, total = page.items, page.total
    except UnknownCase:
        items, total = [], 0
        error = translate(lang, "outbox.unknown_case", number=filters.case)
    counts = await desk.counts()
    context = {
        "filters": filters,
        "notices": [desk.notice(d) for d in items],
        "total": total,
        "pages": max(1, math.ceil(total / PER_PAGE)),
        "error": error,
        "summary": {p: sum(n for (_, q), n in counts.items() if q == p) for p in PROBLEMS},
        "problems": PROBLEMS,
        "channels": CHANNELS,
        "can_retry": RETRY_FROM,
        "can_cancel": CANCEL_FROM,
        "pseudonym": mask_id,
        "text_of": lambda text: _text(member, text),
        "error_of": _error,
    }
    return render(request, "deliveries.html", context)


def _ids(form: Any) -> list[int]:
    """The rows a post acts on: the row's own button, else the ticked boxes."""
    raw = [str(form["row"])] if form.get("row") else [str(v) for v in form.getall("id", [])]
    ids = {int(v) for v in raw if v.isdigit() and len(v) <= 18}
    return sorted(ids)[:MAX_IDS]


def _report(lang: str, verb: str, outcomes: list[StaffOutcome]) -> tuple[str, str]:
    """(flash kind, text) of a retry or cancel."""
    done = [o for o in outcomes if o.done]
    left = [o for o in outcomes if not o.done]
    parts = []
    if done or not left:
        parts.append(translate(lang, f"outbox.{verb}", count=len(done)))
    if left:
        ids = ", ".join(f"#{o.id}" for o in left[:20])
        parts.append(translate(lang, "outbox.unchanged", count=len(left), ids=ids))
    return ("error" if left else "ok"), " ".join(parts)


async def _act(request: web.Request, verb: str) -> web.Response:
    member = require(request, Permission.OUTBOX)
    desk: Deliveries = console(request).deliveries
    lang = lang_of(request)
    form = await request.post()
    back = Filters.parse(dict(urllib.parse.parse_qsl(str(form.get("back", ""))[:500])))
    response = web.HTTPSeeOther(PATH + ("?" + back.query_string() if back.query_string() else ""))
    ids = _ids(form)
    if not ids:
        flash(response, "error", translate(lang, "outbox.none_selected"))
        raise response
    method = desk.retry if verb == "retried" else desk.cancel
    outcomes = await method(
        ids, actor=member.login, staff_id=member.id, ip=client_ip(request), via="session"
    )
    flash(response, *_report(lang, verb, outcomes))
    raise response


async def retry(request: web.Request) -> web.Response:
    """POST /staff/deliveries/retry: queue the chosen rows again, due now."""
    return await _act(request, "retried")


async def cancel(request: web.Request) -> web.Response:
    """POST /staff/deliveries/cancel: the chosen rows are never sent."""
    return await _act(request, "cancelled")


def add_routes(app: web.Application) -> None:
    """The delivery problems page and its two actions."""
    app.router.add_get(PATH, deliveries_page)
    app.router.add_post(PATH + "/retry", retry)
    app.router.add_post(PATH + "/cancel", cancel)
