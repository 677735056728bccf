"""Broadcast pages: compose, preview the recipients per channel and who is left out,
confirm (or submit for a second account's approval, or schedule), watch, approve, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from bot.domain.statuses import STATUS_CODES
from bot.staff.access import Permission
from bot.staff.broadcasts import KINDS, ApprovalRefused, Audience, BroadcastError, check_text
from bot.storage.broadcasts import LEFT_OUT_REASONS
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


def _send_at(form: Any, deps: Console) -> datetime | None:
    """The send time of the compose form (office time, ``YYYY-MM-DDTHH:MM``), or None."""
    raw = str(form.get("send_at", "")).strip()[:32]
    if not raw:
        return None
    try:
        local = datetime.fromisoformat(raw)
    except ValueError:
        raise BroadcastError("send_at") from None
    when = local.replace(tzinfo=deps.tz) if local.tzinfo is None else local
    if when <= deps.clock():
        raise BroadcastError("send_at")
    return when


def _words(exc: BroadcastError, lang: str) -> str:
    """A refusal in words (the send time has its own text)."""
    return translate(lang, "bc.bad_time") if str(exc) == "send_at" else str(exc)


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
    values: dict[str, Any] = {"kind": "case", "tracking_no": "", "text": "", "send_at": ""}
    chosen: dict[str, list[str]] = {name: [] for name in FILTER_FIELDS}
    if form is not None:
        values = {
            "kind": str(form.get("kind", "case")),
            "tracking_no": str(form.get("tracking_no", ""))[:40],
            "text": str(form.get("text", ""))[: deps.broadcasts.max_text_chars + 100],
            "send_at": str(form.get("send_at", ""))[:32],
        }
        chosen = {name: [str(v) for v in form.getall(name, [])] for name in chosen}
    context = {
        "kinds": KINDS,
        "values": values,
        "chosen": chosen,
        "choices": _choices(deps, lang),
        "recent": recent,
        "awaiting": await deps.broadcasts.awaiting_approval(),
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
        send_at = _send_at(form, deps)
        counts = await deps.broadcasts.preview(audience, member)
        left_out = await deps.broadcasts.left_out(audience, member)
    except BroadcastError as exc:
        error = _words(exc, lang_of(request))
        return await _compose(request, form=form, error=error, status=400)
    context = {
        "audience": audience,
        "text": body,
        "counts": sorted(counts.items()),
        "total": sum(counts.values()),
        "left_out": [(reason, left_out.get(reason, 0)) for reason in LEFT_OUT_REASONS],
        "left_out_total": sum(left_out.values()),
        "needs_approval": deps.broadcasts.needs_approval(audience),
        "send_at": send_at,
        "send_at_value": str(form.get("send_at", "")).strip()[:32],
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
            audience,
            str(form.get("text", "")),
            member,
            ip=client_ip(request),
            send_at=_send_at(form, deps),
        )
    except BroadcastError as exc:
        error = _words(exc, lang_of(request))
        return await _compose(request, form=form, error=error, status=400)
    response = web.HTTPSeeOther(f"/staff/broadcasts/{broadcast_id}")
    if deps.broadcasts.needs_approval(audience):
        flash(response, "ok", translate(lang_of(request), "bc.submitted_for_approval"))
    raise response


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


async def decide(request: web.Request) -> web.Response:
    """POST /staff/broadcasts/{id}/approve and …/reject: a second account decides."""
    member = require(request, Permission.BROADCAST)
    deps = console(request)
    lang = lang_of(request)
    progress = await _progress_or_404(request)
    approve = request.path.endswith("/approve")
    response = web.HTTPSeeOther(f"/staff/broadcasts/{progress.id}")
    decide = deps.broadcasts.approve if approve else deps.broadcasts.reject
    try:
        await decide(progress.id, member, ip=client_ip(request))
    except ApprovalRefused:
        flash(response, "error", translate(lang, "bc.own_broadcast"))
    except BroadcastError as exc:
        flash(response, "error", translate(lang, "action.refused", message=str(exc)))
    else:
        flash(response, "ok", translate(lang, "bc.approved" if approve else "bc.rejected"))
    raise response


def add_routes(app: web.Application) -> None:
    """The broadcast pages and the progress endpoint."""
    app.router.add_get("/staff/broadcasts", broadcasts_page)
    app.router.add_post("/staff/broadcasts", send)
    app.router.add_post("/staff/broadcasts/preview", preview)
    app.router.add_get("/staff/broadcasts/{broadcast_id:\\d+}", progress_page)
    app.router.add_get("/staff/broadcasts/{broadcast_id:\\d+}/progress.json", progress_json)
    app.router.add_post("/staff/broadcasts/{broadcast_id:\\d+}/cancel", cancel)
    app.router.add_post("/staff/broadcasts/{broadcast_id:\\d+}/approve", decide)
    app.router.add_post("/staff/broadcasts/{broadcast_id:\\d+}/reject", decide)
