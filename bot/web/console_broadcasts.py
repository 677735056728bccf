"""Broadcast pages: compose, preview the recipients per channel, confirm, watch, cancel."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.domain.statuses import STATUS_CODES
from bot.staff.access import Permission
from bot.staff.broadcasts import KINDS, Audience, BroadcastError, check_text
from bot.web.auth import client_ip, require
from bot.web.console import lang_of, render
from bot.web.console_cases import CHANNELS
from bot.web.console_deps import Console, console, flash
from bot.web.i18n import translate

RECENT = 20
FILTER_FIELDS = ("region", "category", "status", "channel")
_FILTERS = (("region", "regions"), ("category", "categories"), ("status", "statuses"))


def _audience(form: Any) -> Audience:
    """The audience from the compose form (raises BroadcastError)."""
    kind = str(form.get("kind", ""))
    data: dict[str, Any] = {"kind": kind}
    if kind in ("case", "linked"):
        data["tracking_no"] = str(form.get("tracking_no", ""))[:40]
    if kind == "filter":
        for field, key in (*_FILTERS, ("channel", "channels")):
            data[key] = [str(v) for v in form.getall(field, []) if str(v).strip()]
    return Audience.from_json(data)


def _choices(deps: Console, lang: str) -> dict[str, list[tuple[str, str]]]:
    labels = deps.labels
    return {
        "region": [(c, labels.region(c, lang)) for c in labels.regions],
        "category": [(c, labels.category(c, lang)) for c in labels.categories],
        "status": [(c, labels.status(c, lang)) for c in STATUS_CODES],
        "channel": [(c, labels.channel(c, lang)) for c in CHANNELS],
    }


async def _compose(
    request: web.Request, *, form: Any = None, error: str = "", status: int = 200
) -> web.Response:
    deps = console(request)
    lang = lang_of(request)
    recent = await deps.broadcasts.recent(RECENT)
    values: dict[str, Any] = {"kind": "case", "tracking_no": "", "text": ""}
    chosen: dict[str, list[str]] = {name: [] for name in FILTER_FIELDS}
    if form is not None:
        values = {
            "kind": str(form.get("kind", "case")),
            "tracking_no": str(form.get("tracking_no", ""))[:40],
            "text": str(form.get("text", ""))[: deps.broadcasts.max_text_chars + 100],
        }
        chosen = {name: [str(v) for v in form.getall(name, [])] for name in chosen}
    context = {
        "kinds": KINDS,
        "values": values,
        "chosen": chosen,
        "choices": _choices(deps, lang),
        "recent": recent,
        "error": error,
        "max_chars": deps.broadcasts.max_text_chars,
    }
    return render(request, "broadcasts.html", context, status=status)


async def broadcasts_page(request: web.Request) -> web.Response:
    """GET /staff/broadcasts: compose form and recent broadcasts."""
    require(request, Permission.BROADCAST)
    return await _compose(request)


async def preview(request: web.Request) -> web.Response:
    """POST /staff/broadcasts/preview: recipients per channel, and the confirm form."""
    member = require(request, Permission.BROADCAST)
    deps = console(request)
    form = await request.post()
    try:
        audience = _audience(form)
        text = str(form.get("text", ""))
        body = check_text(text, deps.broadcasts.max_text_chars)
        counts = await deps.broadcasts.preview(audience, member)
    except BroadcastError as exc:
        return await _compose(request, form=form, error=str(exc), status=400)
    context = {
        "audience": audience,
        "text": body,
        "counts": sorted(counts.items()),
        "total": sum(counts.values()),
        "form": form,
    }
    return render(request, "broadcast_preview.html", context)


async def send(request: web.Request) -> web.Response:
    """POST /staff/broadcasts: start the broadcast, then watch its progress."""
    member = require(request, Permission.BROADCAST)
    deps = console(request)
    form = await request.post()
    if form.get("edit"):
        return await _compose(request, form=form)
    try:
        audience = _audience(form)
        broadcast_id = await deps.broadcasts.start(
            audience, str(form.get("text", "")), member, ip=client_ip(request)
        )
    except BroadcastError as exc:
        return await _compose(request, form=form, error=str(exc), status=400)
    raise web.HTTPSeeOther(f"/staff/broadcasts/{broadcast_id}")


async def _progress_or_404(request: web.Request) -> Any:
    deps = console(request)
    try:
        return await deps.broadcasts.progress(int(request.match_info["broadcast_id"]))
    except (ValueError, BroadcastError):
        raise web.HTTPNotFound(text=translate(lang_of(request), "bc.not_found")) from None


async def progress_page(request: web.Request) -> web.Response:
    """GET /staff/broadcasts/{id}: progress (updated every second by console-broadcast.js)."""
    require(request, Permission.BROADCAST)
    progress = await _progress_or_404(request)
    return render(request, "broadcast_progress.html", {"p": progress})


async def progress_json(request: web.Request) -> web.Response:
    """GET /staff/broadcasts/{id}/progress.json: the counts the progress page polls."""
    require(request, Permission.BROADCAST)
    progress = await _progress_or_404(request)
    body = {
        "id": progress.id,
        "status": progress.status,
        "total": progress.total,
        "sent": progress.sent,
        "failed": progress.failed,
        "pending": progress.pending,
        "cancelled": progress.cancelled,
        "finished": progress.finished,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def cancel(request: web.Request) -> web.Response:
    """POST /staff/broadcasts/{id}/cancel."""
    member = require(request, Permission.BROADCAST)
    deps = console(request)
    lang = lang_of(request)
    progress = await _progress_or_404(request)
    response = web.HTTPSeeOther(f"/staff/broadcasts/{progress.id}")
    try:
        await deps.broadcasts.cancel(progress.id, member, ip=client_ip(request))
    except BroadcastError as exc:
        flash(response, "error", translate(lang, "action.refused", message=str(exc)))
    else:
        flash(response, "ok", translate(lang, "bc.cancel_done"))
    raise response


def add_routes(app: web.Application) -> None:
    """The broadcast pages and the progress endpoint."""
    app.router.add_get("/staff/broadcasts", broadcasts_page)
    app.router.add_post("/staff/broadcasts", send)
    app.router.add_post("/staff/broadcasts/preview", preview)
    app.router.add_get("/staff/broadcasts/{broadcast_id:\\d+}", progress_page)
    app.router.add_get("/staff/broadcasts/{broadcast_id:\\d+}/progress.json", progress_json)
    app.router.add_post("/staff/broadcasts/{broadcast_id:\\d+}/cancel", cancel)
