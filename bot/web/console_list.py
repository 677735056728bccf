"""The case list's bulk actions: 受理, 交办 and export of a selection."""

from __future__ import annotations

import tempfile
from typing import Any

from aiohttp import web

from bot.domain.tracking import parse_tracking_no
from bot.staff.access import Permission
from bot.staff.actions import BY_NAME
from bot.staff.bulk import BULK_ACTIONS, BulkResult, bulk_act, selection
from bot.staff.casework import ActionError
from bot.storage.case_query import CaseFilter
from bot.web.auth import client_ip, require
from bot.web.console import lang_of, render
from bot.web.console_cases import _filename, _params, _refusal
from bot.web.console_deps import Console, console
from bot.web.i18n import translate

EXPORTS = {"export_csv": "csv", "export_xlsx": "xlsx"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _numbers(form: Any) -> list[str]:
    return selection([str(v) for v in form.getall("case", [])])


async def bulk(request: web.Request) -> web.StreamResponse:
    """POST /staff/cases/bulk: the selected cases accepted, assigned or exported.

    An export answers with the file; an action with a page saying how many cases were
    done and why each refused one was refused (worded as on the case page).
    """
    deps = console(request)
    lang = lang_of(request)
    form = await request.post()
    op = str(form.get("op", ""))
    back = "/staff/cases" + ("?" + str(form.get("back")) if form.get("back") else "")
    if op in EXPORTS:
        return await _export(request, deps, EXPORTS[op], form)
    member = require(request, Permission.CASE_ACT)
    if op not in BULK_ACTIONS:
        raise web.HTTPBadRequest(text=translate(lang, "bulk.unknown_op"))
    params = _params(BY_NAME[op], form)
    for name in [p.name for p in BY_NAME[op].params]:
        if not params.get(name):
            params.pop(name, None)  # assign without a department: routing decides
    try:
        result = await bulk_act(
            deps.casework, member, _numbers(form), op, params, ip=client_ip(request)
        )
    except ActionError as exc:
        result = None
        error = _refusal(exc, op, deps, lang)
    else:
        error = ""
    context = {
        "op": op,
        "result": result,
        "error": error,
        "reasons": _reasons(result, deps, lang),
        "back": back,
    }
    return render(request, "bulk_result.html", context, status=400 if error else 200)


def _reasons(result: BulkResult | None, deps: Console, lang: str) -> list[tuple[str, str]]:
    """(tracking number, reason in words) of every refused case."""
    if result is None:
        return []
    out = []
    for item in result.refused:
        if item.code == "not_found":
            reason = translate(lang, "bulk.not_found")
        else:
            exc = ActionError(item.message, code=item.code, **item.params)
            reason = _refusal(exc, result.action, deps, lang)
        out.append((item.tracking_no, reason))
    return out


async def _export(request: web.Request, deps: Console, fmt: str, form: Any) -> web.StreamResponse:
    """The selected cases (those in the member's scope) as CSV or XLSX."""
    member = require(request, Permission.EXPORT)
    lang = lang_of(request)
    try:
        raw = _numbers(form)
    except ActionError as exc:
        raise web.HTTPBadRequest(text=_refusal(exc, "export", deps, lang)) from None
    numbers = []
    for value in raw:
        parsed = parse_tracking_no(value)
        if parsed.outcome == "valid":
            numbers.append(parsed.canonical)
    if not numbers:
        raise web.HTTPBadRequest(text=translate(lang, "bulk.none_selected"))
    flt = CaseFilter(tracking_nos=tuple(numbers))
    with tempfile.TemporaryFile(prefix="xinfang-export-") as out:
        await deps.exporter.write(
            flt,
            member,
            fmt,  # type: ignore[arg-type]
            out,
            lang=lang,
            deadline_clock=deps.casework.deadline_clock(),
            ip=client_ip(request),
        )
        body = out.tell()
        out.seek(0)
        data = out.read(body)
    content_type = XLSX if fmt == "xlsx" else "text/csv; charset=utf-8"
    name = _filename(fmt, deps.clock(), deps)
    return web.Response(
        body=data,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )


def add_routes(app: web.Application) -> None:
    """The bulk action endpoint (before /staff/cases/{tracking_no} routes match)."""
    app.router.add_post("/staff/cases/bulk", bulk)
