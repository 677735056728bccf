"""The case page's official documents: the PDF (to view and print) and paper delivery."""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from bot.staff.access import Permission
from bot.staff.casework import ActionError
from bot.web.auth import client_ip, require
from bot.web.console import lang_of
from bot.web.console_cases import _refusal
from bot.web.console_deps import console, flash
from bot.web.document_response import pdf_response
from bot.web.i18n import translate


async def document_pdf(request: web.Request) -> web.StreamResponse:
    """GET /staff/cases/{tracking_no}/documents/{document_id}: the PDF (masked for roles
    without personal-data access); ``?download=1`` saves it instead of showing it."""
    member = require(request, Permission.CASE_READ)
    deps = console(request)
    document, path = await deps.documents.pdf(
        member,
        request.match_info["tracking_no"],
        int(request.match_info["document_id"]),  # digits: the route says so
        ip=client_ip(request),
        via="session",
    )
    return pdf_response(document, path, download=request.query.get("download") == "1")


async def record_delivery(request: web.Request) -> web.Response:
    """POST /staff/cases/{tracking_no}/documents/{document_id}/deliveries: paper delivery
    (date, 当面送达 / 邮寄送达, note), then back to the case page."""
    member = require(request, Permission.CASE_ACT)
    deps = console(request)
    lang = lang_of(request)
    number = request.match_info["tracking_no"]
    form = await request.post()
    response = web.HTTPSeeOther(f"/staff/cases/{urllib.parse.quote(number, safe='')}#documents")
    try:
        document, _done = await deps.documents.record_delivery(
            member,
            number,
            int(request.match_info["document_id"]),
            way=str(form.get("way", "")),
            day=str(form.get("delivered_on", "")),
            note=str(form.get("note", "")),
            ip=client_ip(request),
            via="session",
        )
    except ActionError as exc:
        flash(response, "error", _refusal(exc, "record_delivery", deps, lang))
        raise response from None
    flash(response, "ok", translate(lang, "doc.recorded", number=document.number))
    raise response


def add_routes(app: web.Application) -> None:
    """The document PDF and the paper-delivery form of the case page."""
    base = "/staff/cases/{tracking_no}/documents/{document_id:\\d+}"
    app.router.add_get(base, document_pdf)
    app.router.add_post(base + "/deliveries", record_delivery)
