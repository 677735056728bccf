"""The case pages: the filtered list and its exports, the case detail, actions, attachments."""

from __future__ import annotations

import re
import tempfile
import urllib.parse
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from bot.cases.flags import STAFF_SETTABLE
from bot.cases.kpis import MEASURES, KpiSlice, period_between
from bot.channels import registry
from bot.dialogs.kinds import KINDS
from bot.domain.arrival import ARRIVAL_CHANNELS
from bot.domain.statuses import OPEN_STATUSES, STATUS_CODES
from bot.domain.tracking import format_tracking_no
from bot.staff.access import Permission, StaffMember
from bot.staff.actions import BY_NAME, STATIC_CHOICES, ActionSpec
from bot.staff.casework import ActionError, StaffCaseView
from bot.staff.labels import CHANNELS as CASE_CHANNELS
from bot.staff.pii_policy import PiiPolicy
from bot.storage.case_query import Clock
from bot.storage.cases import CaseRow
from bot.web.api_models import FIRST_DAY, LAST_DAY
from bot.web.auth import client_ip, require
from bot.web.console import lang_of, render
from bot.web.console_deps import Console, console, flash
from bot.web.console_filters import (
    LIST_SORTS,
    PER_PAGE_CHOICES,
    filter_chips,
    pages_around,
    parse_list_query,
)
from bot.web.console_register import notice_channel
from bot.web.i18n import translate
from bot.web.periods import period_name, period_params

# the channels citizens are reached on (broadcasts, deliveries)
CHANNELS = registry.NAMES
# attachments a browser may show inline; everything else is a download
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
PLAYABLE_AUDIO = frozenset(
    {"audio/mpeg", "audio/mp4", "audio/aac", "audio/ogg", "audio/wav", "audio/webm", "audio/x-m4a"}
)
_SAFE_NAME = re.compile(r"[^\w.\-]+")


def deadline_marks(rows: Iterable[CaseRow], clock: Clock) -> dict[int, str]:
    """ "overdue" / "near_due" for open cases whose deadline is past or close."""
    marks: dict[int, str] = {}
    for case in rows:
        if case.due_at is None or case.status not in OPEN_STATUSES:
            continue
        if case.due_at < clock.now:
            marks[case.id] = "overdue"
        elif case.due_at <= clock.near_due_until:
            marks[case.id] = "near_due"
    return marks


def kpi_note(kpi: KpiSlice | None, deps: Console, lang: str) -> dict[str, str] | None:
    """What a KPI drill-down lists, in words, and the dashboard of its period."""
    if kpi is None:
        return None
    first = kpi.start.astimezone(deps.tz).date()
    last = kpi.end.astimezone(deps.tz).date() - timedelta(days=1)
    period = period_between(first, last)
    count = MEASURES[kpi.measure].good is None  # a count has no parts
    text = translate(
        lang,
        "kpi.drilldown_count" if count else "kpi.drilldown",
        measure=translate(lang, f"kpi.{kpi.measure}"),
        part=translate(lang, f"kpi.part.{kpi.part}"),
        period=period_name(period, lang),
    )
    return {"text": text, "back": "/staff/?" + urllib.parse.urlencode(period_params(period))}


def _choices(deps: Console, member: StaffMember, lang: str) -> dict[str, list[tuple[str, str]]]:
    """(code, name) options of each filter, from config."""
    labels = deps.labels
    departments = (
        list(labels.departments) if member.sees_all_departments else list(member.departments)
    )
    return {
        "status": [(c, labels.status(c, lang)) for c in STATUS_CODES],
        "category": [(c, labels.category(c, lang)) for c in labels.categories],
        "region": [(c, labels.region(c, lang)) for c in labels.regions],
        "department": [(c, labels.department(c, lang)) for c in departments],
        "channel": [(c, labels.channel(c, lang)) for c in CASE_CHANNELS],  # 信访电网微
        "flag": [(c, labels.flag(c, lang)) for c in labels.flags],
    }


async def case_list(request: web.Request) -> web.Response:
    """GET /staff/cases: one count and one page query (case_query), whatever the filter."""
    member = require(request, Permission.CASE_READ)
    deps = console(request)
    lang = lang_of(request)
    lq = parse_list_query(request.query, deps.tz)
    result = await deps.casework.list(
        member, lq.flt, sort=lq.sort, page=lq.page, per_page=lq.per_page, ip=client_ip(request)
    )
    if result.page > result.pages:  # past the end (an old link): the last page instead
        raise web.HTTPSeeOther("/staff/cases?" + lq.query_string(page=str(result.pages)))
    context = {
        "chips": filter_chips(lq, deps.labels, lang),
        "sorts": LIST_SORTS,
        "back_qs": lq.query_string(page=str(result.page) if result.page > 1 else None),
        "select_page": request.query.get("select") == "page",  # "select all" without JS
        "lq": lq,
        "kpi": kpi_note(lq.flt.kpi, deps, lang),
        "result": result,
        "marks": deadline_marks(result.rows, deps.casework.deadline_clock()),
        "choices": _choices(deps, member, lang),
        "per_page_choices": PER_PAGE_CHOICES,
        "page_numbers": pages_around(result.page, result.pages),
        "export_qs": lq.query_string(page=None, per_page=None),
    }
    response = render(request, "cases.html", context)
    if lq.errors:  # the page shows which values were not understood
        response.set_status(400)
    return response


def _refuse_bad_filter(request: web.Request, errors: list[str]) -> None:
    """An export with a filter value that is not understood is refused, not widened."""
    if errors:
        text = translate(
            lang_of(request),
            "cases.export_bad_value",
            value=", ".join(errors),
            first=FIRST_DAY.isoformat(),
            last=LAST_DAY.isoformat(),
        )
        raise web.HTTPBadRequest(text=text)


def _filename(ext: str, now: datetime, deps: Console) -> str:
    return f"xinfang-cases-{deps.local(now, '%Y%m%d-%H%M')}.{ext}"


async def export_csv(request: web.Request) -> web.StreamResponse:
    """GET /staff/cases/export.csv: the filtered list, streamed (permission ``export``)."""
    member = require(request, Permission.EXPORT)
    deps = console(request)
    lq = parse_list_query(request.query, deps.tz)
    _refuse_bad_filter(request, lq.errors)
    chunks = deps.exporter.stream_csv(
        lq.flt,
        member,
        lang=lang_of(request),
        sort=lq.sort,
        deadline_clock=deps.casework.deadline_clock(),
        ip=client_ip(request),
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{_filename("csv", deps.clock(), deps)}"',
        }
    )
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def export_xlsx(request: web.Request) -> web.StreamResponse:
    """GET /staff/cases/export.xlsx: the filtered list as a workbook (permission ``export``)."""
    member = require(request, Permission.EXPORT)
    deps = console(request)
    lq = parse_list_query(request.query, deps.tz)
    _refuse_bad_filter(request, lq.errors)
    # a zip needs seeking: build it in a temporary file, then send that
    with tempfile.TemporaryFile(prefix="xinfang-export-") as out:
        await deps.exporter.write(
            lq.flt,
            member,
            "xlsx",
            out,
            lang=lang_of(request),
            sort=lq.sort,
            deadline_clock=deps.casework.deadline_clock(),
            ip=client_ip(request),
        )
        size = out.tell()
        out.seek(0)
        name = _filename("xlsx", deps.clock(), deps)
        response = web.StreamResponse(
            headers={
                "Content-Type": (
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                ),
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Length": str(size),
            }
        )
        await response.prepare(request)
        while block := out.read(256 * 1024):
            await response.write(block)
    await response.write_eof()
    return response


def _answer_text(value: Any, spec: Any, kind: str, deps: Console, lang: str) -> str:
    """A stored answer as staff read it (choice labels, place names, lists)."""
    if value is None or value == "":
        return ""
    if spec is not None and spec.choices:
        choice = spec.choice(value)
        if choice is not None:
            return str(choice.label.get(lang))
    if spec is not None and spec.kind in ("phone", "phones"):  # a landline with its area code
        return str(KINDS[spec.kind].display(spec, value, lang, lambda _key, **_: "、"))
    if kind == "region":
        return deps.labels.region(str(value), lang)
    if kind == "category":
        return deps.labels.category(str(value), lang)
    if isinstance(value, dict):
        text = str(value.get("label") or "")
        if value.get("lat") is not None:
            text = f"{text} ({value.get('lat')}, {value.get('lon')})".strip()
        return text
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def form_fields(case: CaseRow, deps: Console, lang: str) -> list[tuple[str, str, str]]:
    """(field name, label, value) of every answer, in the order of the form."""
    try:
        form = deps.forms.current("intake")
        specs = {f.role or f.name: f for f in form.fields}  # cases store answers by role
    except KeyError:
        specs = {}
    out: list[tuple[str, str, str]] = []
    names = [n for n in specs if n in case.answers] + [n for n in case.answers if n not in specs]
    for name in names:
        spec = specs.get(name)
        if spec is not None and spec.kind == "attachments":
            continue  # shown with the files themselves
        label = spec.label.get(lang) if spec is not None else name
        kind = spec.source if spec is not None and spec.source else name
        out.append((name, label, _answer_text(case.answers[name], spec, kind, deps, lang)))
    return out


def _department_options(deps: Console, lang: str) -> list[tuple[str, str]]:
    labels = deps.labels
    return sorted(
        ((code, labels.department(code, lang)) for code in labels.departments),
        key=lambda pair: pair[0],
    )


def _link_rows(view: StaffCaseView) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(tracking number, score) of linked and of suggested cases."""
    linked: list[tuple[str, float]] = []
    suggested: list[tuple[str, float]] = []
    for link in view.links:
        other = link.other_case_id if link.case_id == view.case.id else link.case_id
        number = view.numbers.get(other)
        if number is None:
            continue
        (linked if link.kind == "linked" else suggested).append((number, link.score))
    return linked, suggested


async def case_detail(request: web.Request) -> web.Response:
    """GET /staff/cases/{tracking_no}: everything about one case, and its actions."""
    member = require(request, Permission.CASE_READ)
    deps = console(request)
    lang = lang_of(request)
    number = request.match_info["tracking_no"]
    view = await deps.casework.detail(member, number, ip=client_ip(request))
    linked, suggested = _link_rows(view)
    documents = await deps.documents.of_case(view.case.id)
    max_days = deps.casework.lifecycle.config.clocks.extension_max_days
    context = {
        "documents": documents,  # the official documents, with their paper deliveries
        "event_documents": {d.document.event_id: d for d in documents},
        "today": deps.local(deps.clock(), "%Y-%m-%d"),
        "view": view,
        "notices": await deps.deliveries.of_case(view.case.id, view.case.contact_id),
        "case": view.case,
        "fields": form_fields(view.case, deps, lang),
        "linked": linked,
        "suggested": suggested,
        "primary": view.numbers.get(view.case.linked_to) if view.case.linked_to else "",
        "actions": [a for a in view.allowed_actions if BY_NAME[a].form],
        "action_specs": [BY_NAME[a] for a in view.allowed_actions if BY_NAME[a].form],
        "can_flag": "flag" in view.allowed_actions,
        "can_link": "link" in view.allowed_actions,
        "can_take": _can_take(member, view),
        "staff_flags": sorted(STAFF_SETTABLE),
        "form_options": await _options(deps, member, view.case, lang),
        "form_values": {
            "department": view.case.department,
            "co_departments": list(view.case.co_departments),
            "days": max_days,
            "handler": view.case.handler,
        },
        "form_limits": {"days": max_days},
        "canned": deps.canned.for_case(
            view.case, lang, deps.tz, deps.labels.department(view.case.department, lang)
        ),
        "inline_images": INLINE_IMAGES,
        "playable_audio": PLAYABLE_AUDIO,
        "can_download": PiiPolicy.of(member).downloads_attachments,
        "notice_channel": await notice_channel(deps, view.case.contact_id),  # sms, paper, …
        "arrivals": ARRIVAL_CHANNELS,  # registered by staff: dated by the day of arrival
    }
    return render(request, "case.html", context)


async def _options(
    deps: Console, member: StaffMember, case: CaseRow, lang: str
) -> dict[str, list[tuple[str, str]]]:
    """(code, name) options of every choice source of the catalogue's forms."""
    labels = deps.labels
    handlers = await deps.casework.handlers(case.department)
    if not member.sees_all_departments:  # a handler takes a case for themselves only
        handlers = [(login, name) for login, name in handlers if login == member.login]
    return {
        "departments": _department_options(deps, lang),
        "handlers": [(login, f"{name} ({login})" if name else login) for login, name in handlers],
        "outcomes": [(o, translate(lang, f"outcome.{o}")) for o in STATIC_CHOICES["outcomes"]],
        "staff_flags": [(f, labels.flag(f, lang)) for f in STATIC_CHOICES["staff_flags"]],
        "legal_statuses": [
            (c, translate(lang, f"legal.{c}")) for c in STATIC_CHOICES["legal_statuses"]
        ],
        "yes_no": [(c, translate(lang, f"choice.{c}")) for c in STATIC_CHOICES["yes_no"]],
    }


def _can_take(member: StaffMember, view: StaffCaseView) -> bool:
    """Whether the page offers 认领: a handler of the lead department, not yet the handler."""
    return (
        "assign_handler" in view.allowed_actions
        and not member.sees_all_departments
        and view.case.handler != member.login
    )


def _params(spec: ActionSpec, form: Any) -> dict[str, Any]:
    """The posted form as the action's raw parameters (checked by the spec)."""
    params: dict[str, Any] = {}
    for p in spec.params:
        if p.kind == "choices":
            params[p.name] = [str(v) for v in form.getall(p.name, []) if v]
        elif p.kind == "bool":  # a form's checkbox: absent is off
            params[p.name] = form.get(p.name) == "1"
        elif p.name in form:
            params[p.name] = str(form.get(p.name, ""))
    return params


def _refusal(exc: ActionError, action: str, deps: Console, lang: str) -> str:
    """An ActionError in the interface language, from its code and parameters."""
    if not exc.code:  # every refusal has a code; the message is the last resort
        return translate(lang, "action.refused", message=str(exc))
    params = {**exc.params, "action": translate(lang, f"action.{action}")}
    if "field" in params:
        key = f"field.{params['field']}"
        params["field"] = translate(lang, key) if translate(lang, key) != key else params["field"]
    if "status" in params:
        params["status"] = deps.labels.status(str(params["status"]), lang)
    if "department" in params:
        params["department"] = deps.labels.department(str(params["department"]), lang)
    return translate(lang, f"refusal.{exc.code}", **params)


async def case_action(request: web.Request) -> web.Response:
    """POST /staff/cases/{tracking_no}/actions/{action}: act, then back to the case page
    with a message saying what was done or why it was refused."""
    member = require(request, Permission.CASE_ACT)
    deps = console(request)
    lang = lang_of(request)
    number = request.match_info["tracking_no"]
    action = request.match_info["action"]
    form = await request.post()
    response = web.HTTPSeeOther(f"/staff/cases/{urllib.parse.quote(number, safe='')}")
    spec = BY_NAME.get(action)
    try:
        change = await deps.casework.act(
            member, number, action, _params(spec, form) if spec else {}, ip=client_ip(request)
        )
    except ActionError as exc:
        flash(response, "error", _refusal(exc, action, deps, lang))
        raise response from None
    done = translate(lang, f"action.{action}")
    number = format_tracking_no(change.case.tracking_no)
    flash(response, "ok", translate(lang, "action.done", action=done, number=number))
    raise response


async def attachment(request: web.Request) -> web.StreamResponse:
    """GET /staff/cases/{tracking_no}/attachments/{id}: a file of a case in scope."""
    member = require(request, Permission.CASE_READ)
    deps = console(request)
    row, path = await deps.casework.attachment(
        member,
        request.match_info["tracking_no"],
        int(request.match_info["attachment_id"]),  # digits: the route says so
        ip=client_ip(request),
    )
    if not path.is_file():
        return render(request, "not_found.html", {}, status=404)
    mime = (row.mime or "").split(";")[0].strip().lower()
    inline = mime in INLINE_IMAGES or mime in PLAYABLE_AUDIO
    content_type = mime if inline else "application/octet-stream"
    name = row.filename or f"attachment-{row.id}"
    ascii_name = _SAFE_NAME.sub("_", name)[:100] or f"attachment-{row.id}"
    disposition = (
        f'{"inline" if inline else "attachment"}; filename="{ascii_name}"; '
        f"filename*=UTF-8''{urllib.parse.quote(name[:200], safe='')}"
    )
    return web.FileResponse(
        path,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            # even opened on its own, a file can run nothing
            "Content-Security-Policy": "default-src 'none'; img-src 'self'; "
            "media-src 'self'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


def add_routes(app: web.Application) -> None:
    """The case list, exports, detail, actions and attachments."""
    app.router.add_get("/staff/cases", case_list)
    app.router.add_get("/staff/cases/export.csv", export_csv)
    app.router.add_get("/staff/cases/export.xlsx", export_xlsx)
    app.router.add_get("/staff/cases/{tracking_no}", case_detail)
    app.router.add_post("/staff/cases/{tracking_no}/actions/{action}", case_action)
    app.router.add_get("/staff/cases/{tracking_no}/attachments/{attachment_id:\\d+}", attachment)
