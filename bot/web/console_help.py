"""GET /staff/help: citizens who asked for a person ("转人工"); reply to them through their
own channel, or mark the request handled after calling them (permission ``case.act``;
handlers see the requests about their departments' cases).

What citizens wrote is masked for roles without ``case.pii``, like the answers.
"""

from __future__ import annotations

from aiohttp import web

from bot.logging import mask_id, mask_text
from bot.staff.access import Permission, StaffMember
from bot.staff.helpdesk import REPLY_MAX_CHARS, HelpDeskError
from bot.web.auth import client_ip, require
from bot.web.console import lang_of, render
from bot.web.console_deps import console, flash
from bot.web.i18n import translate

PATH = "/staff/help"
PER_PAGE = 50


def _words(member: StaffMember, text: str) -> str:
    """A citizen's words for this member: personal numbers masked without case.pii."""
    return text if member.can(Permission.CASE_PII) else mask_text(text)


def _page(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    return max(1, min(int(raw), 10_000)) if raw.isdigit() else 1


async def help_page(request: web.Request) -> web.Response:
    """GET /staff/help[?handled=1]: open requests (longest waiting first) or handled ones."""
    member = require(request, Permission.CASE_ACT)
    desk = console(request).helpdesk
    handled = request.query.get("handled") == "1"
    page = _page(request)
    items = await desk.listing(
        member, handled=handled, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE
    )
    context = {
        "items": items[:PER_PAGE],
        "more": len(items) > PER_PAGE,
        "page": page,
        "handled": handled,
        "open_count": await desk.open_count(member),
        "words": lambda text: _words(member, text),
        "pseudonym": mask_id,
        "reply_max": REPLY_MAX_CHARS,
    }
    return render(request, "help_requests.html", context)


async def _act(request: web.Request, reply: bool) -> web.Response:
    member = require(request, Permission.CASE_ACT)
    desk = console(request).helpdesk
    lang = lang_of(request)
    raw = request.match_info["id"]
    form = await request.post()
    response = web.HTTPSeeOther(PATH)
    try:
        if reply:
            await desk.reply(
                member, int(raw), str(form.get("text", "")), ip=client_ip(request), via="session"
            )
            flash(response, "ok", translate(lang, "help.replied"))
        elif await desk.mark_handled(member, int(raw), ip=client_ip(request), via="session"):
            flash(response, "ok", translate(lang, "help.closed"))
        else:
            flash(response, "error", translate(lang, "help.error.already"))
    except HelpDeskError as err:
        flash(response, "error", translate(lang, f"help.error.{err.code}"))
    raise response


async def reply(request: web.Request) -> web.Response:
    """POST /staff/help/{id}/reply: write to the citizen and close the request."""
    return await _act(request, reply=True)


async def handled(request: web.Request) -> web.Response:
    """POST /staff/help/{id}/handled: close the request (the citizen was called)."""
    return await _act(request, reply=False)


def add_routes(app: web.Application) -> None:
    """The help requests page and its two actions."""
    app.router.add_get(PATH, help_page)
    app.router.add_post(PATH + r"/{id:\d{1,18}}/reply", reply)
    app.router.add_post(PATH + r"/{id:\d{1,18}}/handled", handled)
