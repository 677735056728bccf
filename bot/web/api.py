"""The staff JSON API under /api/v1: cases, actions, dashboard, exports, broadcasts,
deliveries (:mod:`bot.web.api_deliveries`), audit.

Authentication is :mod:`bot.web.auth`'s (bearer token, or the console cookie plus
``X-CSRF-Token``). Every case operation goes through :class:`Casework`, so department
scope, permissions, personal-data masking and the audit log are the console's own.
The routes are data (:data:`ROUTES`); the OpenAPI document is generated from them.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from datetime import UTC, datetime, time, timedelta
from typing import IO, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.cases.kpis import PeriodError, period_between, slice_of
from bot.deliveries import Notice
from bot.domain.tracking import format_tracking_no, parse_tracking_no
from bot.staff.access import Permission, StaffMember
from bot.staff.actions import ACTIONS
from bot.staff.broadcasts import ApprovalRefused, Audience, BroadcastError, BroadcastProgress
from bot.staff.casework import AttachmentRow, StaffCaseView
from bot.staff.pii_policy import PiiPolicy
from bot.staff.worklist import TodoItem, todo
from bot.storage.case_query import CaseFilter, Sort
from bot.storage.cases import CaseRow
from bot.web import api_bulk, api_deliveries, api_documents, api_kpis, api_register
from bot.web import api_models as m
from bot.web.api_deliveries import delivery_out
from bot.web.api_kpis import kpi_out, period_of_query, period_out
from bot.web.api_routes import (
    API_PREFIX,
    ApiError,
    ApiServices,
    Call,
    FieldError,
    PathParam,
    Route,
    register,
)
from bot.web.auth import identity
from bot.web.console_filters import handler_filter
from bot.web.openapi import document

CASE = PathParam(
    "tracking_no",
    {"type": "string", "minLength": 1, "maxLength": 40},
    "Tracking number, in any typed form (XF261121-048273-5)",
)
ATTACHMENT = PathParam("attachment_id", {"type": "integer", "minimum": 0, "maximum": m.MAX_ID})
BROADCAST = PathParam("broadcast_id", {"type": "integer", "minimum": 0, "maximum": m.MAX_ID})
ID = r"\d+"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Attachments shown inline; anything else (HTML, SVG, scripts) only ever downloads.
INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/amr",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "audio/wav",
        "audio/x-wav",
        "audio/silk",
        "video/mp4",
        "application/pdf",
    }
)
CHUNK = 256 * 1024


# --------------------------------------------------------------------------- conversions


_utc = m.utc
_opt = m.utc_or_none


def case_out(case: CaseRow) -> dict[str, Any]:
    """The list fields of a case."""
    return {
        "tracking_no": case.tracking_no,
        "display_no": format_tracking_no(case.tracking_no),
        "status": case.status,
        "channel": case.channel,
        "lang": case.lang,
        "appeal_type": case.appeal_type,
        "category": case.category,
        "region": case.region,
        "department": case.department,
        "co_departments": list(case.co_departments),
        "transferred_to": case.transferred_to,
        "handler": case.handler,
        "flags": list(case.flags),
        "people_count": case.people_count,
        "name": case.name,
        "phone": case.phone,
        "submitted_at": _utc(case.submitted_at),
        "updated_at": _utc(case.updated_at),
        "due_at": _opt(case.due_at),
    }


def attachment_url(tracking_no: str, attachment: AttachmentRow) -> str:
    """Where the API serves an attachment."""
    return f"{API_PREFIX}/cases/{tracking_no}/attachments/{attachment.id}"


def detail_out(
    view: StaffCaseView, notices: dict[int, list[Notice]], member: StaffMember
) -> m.CaseDetailOut:
    """The case page as JSON, each event with the notices it sent (``notices`` by event)."""
    case = view.case
    policy = PiiPolicy.of(member)

    def link(link: Any) -> m.LinkOut | None:
        other = link.other_case_id if link.case_id == case.id else link.case_id
        number = view.numbers.get(other)
        if number is None:
            return None
        return m.LinkOut(
            tracking_no=number, kind=link.kind, score=link.score, created_at=_utc(link.created_at)
        )

    links = [x for x in (link(ln) for ln in view.links if ln.kind == "linked") if x]
    suggested = [x for x in (link(ln) for ln in view.suggested) if x]
    timeline = [
        m.EventOut(
            id=e.id,
            at=_utc(e.at),
            actor=e.actor,
            kind=e.kind,
            message=e.message or "",
            note=e.note or "",
            public=bool(e.public),
            data=e.data if isinstance(e.data, dict) else None,
            deliveries=[delivery_out(n, member) for n in notices.get(e.id, [])],
        )
        for e in view.events
    ]
    return m.CaseDetailOut(
        **case_out(case),
        answers=dict(case.answers),
        accepted_at=_opt(case.accepted_at),
        answer_due_at=_opt(case.answer_due_at),
        extensions=case.extensions,
        answered_at=_opt(case.answered_at),
        answer_outcome=case.answer_outcome,
        answer_text=case.answer_text,
        request_until=_opt(case.request_until),
        closed_at=_opt(case.closed_at),
        rating=case.rating,
        rating_comment=case.rating_comment,
        rated_at=_opt(case.rated_at),
        linked_to=view.numbers.get(case.linked_to) if case.linked_to is not None else None,
        deadline=(
            m.DeadlineOut(due_at=_utc(case.due_at), state=view.deadline)
            if case.due_at is not None and view.deadline is not None
            else None
        ),
        timeline=timeline,
        links=links,
        suggested=suggested,
        attachments=[
            m.AttachmentOut(
                id=a.id,
                kind=a.kind,
                mime=a.mime,
                filename=a.filename,
                size=a.size,
                created_at=_utc(a.created_at),
                origin=a.origin,  # type: ignore[arg-type]
                in_document=a.in_document,
                url=attachment_url(case.tracking_no, a) if policy.downloads_attachments else None,
            )
            for a in view.attachments
        ],
        allowed_actions=view.allowed_actions,
        refused_actions=view.refused,
        opinions=[
            m.OpinionOut(
                stage=o.stage,  # type: ignore[arg-type]
                outcome=o.outcome,
                text=o.text,
                decided_by=o.decided_by,
                department=o.department,
                decided_at=_utc(o.decided_at),
            )
            for o in view.opinions
        ],
    )


def case_filter(q: m.CaseFilters, tz: ZoneInfo) -> CaseFilter:
    """The storage filter of the query (dates are office days; ``submitted_to`` inclusive)."""
    start = datetime.combine(q.submitted_from, time.min, tz) if q.submitted_from else None
    end = (
        datetime.combine(q.submitted_to + timedelta(days=1), time.min, tz)
        if q.submitted_to
        else None
    )
    if start is not None and end is not None and start >= end:
        raise ApiError(
            422,
            "validation_failed",
            "submitted_from is after submitted_to",
            [FieldError(loc=["query", "submitted_from"], msg="after submitted_to", type="range")],
        )
    kpi = None
    if q.kpi is not None:
        try:
            if q.kpi_from is None or q.kpi_to is None:
                raise PeriodError("kpi needs kpi_from and kpi_to")
            kpi = slice_of(period_between(q.kpi_from, q.kpi_to), q.kpi, q.kpi_part, tz)
        except PeriodError as exc:
            raise ApiError(
                422,
                "validation_failed",
                str(exc),
                [FieldError(loc=["query", "kpi"], msg=str(exc), type="period")],
            ) from None
    numbers = []
    for value in q.case:
        parsed = parse_tracking_no(value)
        if parsed.outcome != "valid":
            raise ApiError(
                422,
                "validation_failed",
                f"case {value!r} is not a tracking number",
                [FieldError(loc=["query", "case"], msg="not a tracking number", type="value")],
            )
        numbers.append(parsed.canonical)
    return CaseFilter(
        tracking_nos=tuple(numbers),
        statuses=tuple(q.status),
        categories=tuple(q.category),
        regions=tuple(q.region),
        departments=tuple(q.department),
        channels=tuple(q.channel),
        flags=tuple(q.flag),
        deadline=q.deadline or "",
        submitted_from=start.astimezone(UTC) if start else None,
        submitted_to=end.astimezone(UTC) if end else None,
        q=q.q,
        kpi=kpi,
        handler=handler_filter(q.handler),
    )


def _sort(q: m.CaseFilters) -> Sort:
    return Sort(q.sort, descending=q.order == "desc")


def progress_out(p: BroadcastProgress) -> m.BroadcastOut:
    """A broadcast's progress as JSON."""
    return m.BroadcastOut(
        id=p.id,
        status=p.status,  # type: ignore[arg-type]
        total=p.total,
        sent=p.sent,
        failed=p.failed,
        pending=p.pending,
        cancelled=p.cancelled,
        created_by=p.created_by,
        created_at=_utc(p.created_at),
        finished_at=_opt(p.finished_at),
        text=p.text,
        audience=dict(p.audience),
        scheduled_at=_opt(p.scheduled_at),
        decided_by=p.decided_by,
        decided_at=_opt(p.decided_at),
    )


# --------------------------------------------------------------------------- handlers


async def me(call: Call[None, None]) -> m.Me:
    """GET /api/v1/me."""
    who = call.member
    found = identity(call.request)
    return m.Me(
        id=who.id,
        login=who.login,
        display_name=who.display_name,
        role=who.role.value,
        departments=list(who.departments),
        lang=who.lang,
        permissions=[p.value for p in Permission if who.can(p)],
        via="token" if call.via == "token" else "session",
        scope="read" if found is not None and found.scope == "read" else "write",
    )


async def list_cases(call: Call[m.CaseListQuery, None]) -> m.CasePageOut:
    """GET /api/v1/cases."""
    q = call.query
    work = call.services.casework
    result = await work.list(
        call.member,
        case_filter(q, call.services.timezone),
        sort=_sort(q),
        page=q.page,
        per_page=q.per_page,
        ip=call.ip,
        via=call.via,
    )
    return m.CasePageOut(
        items=[m.CaseOut(**case_out(c)) for c in result.rows],
        total=result.total,
        total_capped=result.total_capped,
        page=result.page,
        per_page=result.per_page,
        pages=result.pages,
    )


def _download_name(ext: str) -> str:
    return f"cases-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.{ext}"


async def export_csv(call: Call[m.ExportQuery, None]) -> web.StreamResponse:
    """GET /api/v1/cases/export.csv (streamed)."""
    q = call.query
    work = call.services.casework
    chunks = call.services.exporter.stream_csv(
        case_filter(q, call.services.timezone),
        call.member,
        lang=q.lang,
        sort=_sort(q),
        deadline_clock=work.deadline_clock(),
        ip=call.ip,
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{_download_name("csv")}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    await response.prepare(call.request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def export_xlsx(call: Call[m.ExportQuery, None]) -> web.StreamResponse:
    """GET /api/v1/cases/export.xlsx (built in a temporary file, then streamed)."""
    q = call.query
    work = call.services.casework
    out: IO[bytes] = await asyncio.to_thread(tempfile.TemporaryFile)
    try:
        await call.services.exporter.write(
            case_filter(q, call.services.timezone),
            call.member,
            "xlsx",
            out,
            lang=q.lang,
            sort=_sort(q),
            deadline_clock=work.deadline_clock(),
            ip=call.ip,
        )
        size = await asyncio.to_thread(out.seek, 0, 2)
        await asyncio.to_thread(out.seek, 0)
        response = web.StreamResponse(
            headers={
                "Content-Type": XLSX,
                "Content-Disposition": f'attachment; filename="{_download_name("xlsx")}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            }
        )
        response.content_length = size
        await response.prepare(call.request)
        while chunk := await asyncio.to_thread(out.read, CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(out.close)


def _id(call: Call[Any, Any], name: str) -> int:
    """A numeric path parameter (the route allows digits only); too big is not found."""
    value = int(call.path(name))
    if value > m.MAX_ID:
        raise ApiError(404, "not_found", f"no {name.removesuffix('_id')} {value}")
    return value


async def case_detail(call: Call[None, None]) -> m.CaseDetailOut:
    """GET /api/v1/cases/{tracking_no}."""
    view = await call.services.casework.detail(
        call.member, call.path("tracking_no"), ip=call.ip, via=call.via
    )
    notices = await call.services.deliveries.of_case(view.case.id, view.case.contact_id)
    return detail_out(view, notices, call.member)


async def attachment(call: Call[None, None]) -> web.StreamResponse:
    """GET /api/v1/cases/{tracking_no}/attachments/{attachment_id}: the file."""
    row, path = await call.services.casework.attachment(
        call.member,
        call.path("tracking_no"),
        _id(call, "attachment_id"),
        ip=call.ip,
        via=call.via,
    )
    if not await asyncio.to_thread(path.is_file):
        raise ApiError(404, "not_found", "the attachment's file is missing")
    mime = row.mime.split(";")[0].strip().lower()
    inline = mime in INLINE_TYPES
    fallback = f"attachment-{row.id}"
    name = quote(row.filename or fallback, safe="")
    disposition = "inline" if inline else "attachment"
    disposition += f"; filename=\"{fallback}\"; filename*=UTF-8''{name}"
    return web.FileResponse(
        path,
        headers={
            "Content-Type": mime if inline else "application/octet-stream",
            "Content-Disposition": disposition,
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def action_handler(action: str) -> Any:
    """The handler of POST /api/v1/cases/{tracking_no}/actions/<action>."""

    async def act(call: Call[None, m.Body]) -> m.ActionResult:
        work = call.services.casework
        change = await work.act(
            call.member,
            call.path("tracking_no"),
            action,
            call.body.model_dump(),
            ip=call.ip,
            via=call.via,
        )
        case = PiiPolicy.of(call.member).case(change.case)
        return m.ActionResult(
            action=action,
            pushes=change.pushes,
            group=list(change.group),
            case=m.CaseOut(**case_out(case)),
            allowed_actions=await work.permitted(call.member, change.case),
        )

    return act


async def my_todo(call: Call[None, None]) -> m.TodoOut:
    """GET /api/v1/todo."""
    work = await todo(call.services.casework, call.member)

    def out(item: TodoItem) -> m.TodoItemOut:
        return m.TodoItemOut(
            case=m.CaseOut(**case_out(item.case)),
            due_at=_opt(item.due),
            days_left=item.days_left,
            state=item.state,
            next_action=item.next_action,
        )

    return m.TodoOut(
        mine=[out(i) for i in work.mine], queue=[out(i) for i in work.queue], count=work.count
    )


async def dashboard(call: Call[m.PeriodQuery, None]) -> m.DashboardOut:
    """GET /api/v1/dashboard."""
    work = call.services.casework
    period = period_of_query(call.query, work)
    board = await work.dashboard(call.member, period)
    return m.DashboardOut(
        counts_by_status=dict(board.counts_by_status),
        overdue=[m.CaseOut(**case_out(c)) for c in board.overdue],
        overdue_total=board.overdue_total,
        overdue_capped=board.overdue_capped,
        near_due=[m.CaseOut(**case_out(c)) for c in board.near_due],
        near_due_total=board.near_due_total,
        near_due_capped=board.near_due_capped,
        weekly=[
            m.WeekOut(
                week_start=w.week_start,
                total=w.total,
                by_channel=dict(w.by_channel),
                by_category=dict(w.by_category),
                by_region=dict(w.by_region),
            )
            for w in board.weekly
        ],
        period=period_out(period, call.services.timezone),
        kpis={code: kpi_out(f, period) for code, f in board.figures.items()},
        missing_calendar_years=list(board.missing_calendar_years),
    )


def _audience(body: m.AudienceIn) -> Audience:
    try:
        return Audience.from_json(body.model_dump())
    except BroadcastError as exc:
        raise _broadcast_invalid(exc) from None


def _broadcast_invalid(exc: BroadcastError) -> ApiError:
    field = FieldError(loc=["body", "audience"], msg=str(exc), type="audience")
    return ApiError(422, "validation_failed", str(exc), [field])


async def broadcast_preview(call: Call[None, m.PreviewIn]) -> m.PreviewOut:
    """POST /api/v1/broadcasts/preview."""
    audience = _audience(call.body.audience)
    service = call.services.broadcasts
    try:
        counts = await service.preview(audience, call.member)
        left_out = await service.left_out(audience, call.member)
    except BroadcastError as exc:
        raise _broadcast_invalid(exc) from None
    return m.PreviewOut(
        by_channel=dict(counts),
        total=sum(counts.values()),
        left_out=left_out,
        needs_approval=service.needs_approval(audience),
    )


async def broadcast_start(call: Call[None, m.BroadcastIn]) -> m.BroadcastOut:
    """POST /api/v1/broadcasts: queue it; 201 with its progress."""
    audience = _audience(call.body.audience)
    service = call.services.broadcasts
    try:
        broadcast_id = await service.start(
            audience, call.body.text, call.member, ip=call.ip, send_at=call.body.send_at
        )
    except BroadcastError as exc:
        raise _broadcast_invalid(exc) from None
    return progress_out(await service.progress(broadcast_id))


async def broadcast_list(call: Call[m.BroadcastListQuery, None]) -> m.BroadcastList:
    """GET /api/v1/broadcasts."""
    recent = await call.services.broadcasts.recent(call.query.limit)
    return m.BroadcastList(items=[progress_out(p) for p in recent])


async def _progress(call: Call[Any, Any]) -> BroadcastProgress:
    try:
        return await call.services.broadcasts.progress(_id(call, "broadcast_id"))
    except BroadcastError as exc:
        raise ApiError(404, "not_found", str(exc)) from None


async def broadcast_get(call: Call[None, None]) -> m.BroadcastOut:
    """GET /api/v1/broadcasts/{broadcast_id}."""
    return progress_out(await _progress(call))


async def broadcast_cancel(call: Call[None, None]) -> m.BroadcastOut:
    """POST /api/v1/broadcasts/{broadcast_id}/cancel."""
    found = await _progress(call)
    try:
        done = await call.services.broadcasts.cancel(found.id, call.member, ip=call.ip)
    except BroadcastError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return progress_out(done)


def broadcast_decision(approve: bool) -> Any:
    """The handler of POST /api/v1/broadcasts/{id}/approve or …/reject."""

    async def decide(call: Call[None, None]) -> m.BroadcastOut:
        found = await _progress(call)
        service = call.services.broadcasts
        act = service.approve if approve else service.reject
        try:
            done = await act(found.id, call.member, ip=call.ip)
        except ApprovalRefused as exc:
            raise ApiError(403, "own_broadcast", str(exc)) from None
        except BroadcastError as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        return progress_out(done)

    return decide


async def audit_log(call: Call[m.AuditQuery, None]) -> m.AuditPage:
    """GET /api/v1/audit."""
    q = call.query
    rows, numbers = await call.services.casework.audit_log(
        call.member,
        actor=q.actor,
        action=q.action,
        tracking_no=q.case,
        since=q.since,
        until=q.until,
        before_id=q.before_id,
        limit=q.limit,
    )
    items = [
        m.AuditEntryOut(
            id=r.id,
            at=_utc(r.at),
            actor=r.actor,
            action=r.action,
            case=numbers.get(r.case_id) if r.case_id is not None else None,
            target=r.target,
            detail=r.detail if isinstance(r.detail, dict) else None,
            ip=r.ip,
        )
        for r in rows
    ]
    return m.AuditPage(items=items, next_before_id=rows[-1].id if len(rows) == q.limit else None)


async def openapi_json(call: Call[None, None]) -> web.StreamResponse:
    """GET /api/v1/openapi.json (public)."""
    return web.Response(body=openapi_body(), content_type="application/json", charset="utf-8")


_DOCUMENT: list[bytes] = []


def openapi_body() -> bytes:
    """The OpenAPI document, built once."""
    if not _DOCUMENT:
        _DOCUMENT.append(json.dumps(document(ROUTES), ensure_ascii=False).encode())
    return _DOCUMENT[0]


# --------------------------------------------------------------------------- the table

ROUTES: list[Route] = [
    Route(
        "GET",
        f"{API_PREFIX}/openapi.json",
        openapi_json,
        "openapi",
        "This OpenAPI document",
        "meta",
        None,
        files=("application/json",),
        public=True,
    ),
    Route("GET", f"{API_PREFIX}/me", me, "me", "Who am I", "meta", None, response=m.Me),
    Route(
        "GET",
        f"{API_PREFIX}/cases",
        list_cases,
        "listCases",
        "The case list: filters, full-text search, sort, pages",
        "cases",
        Permission.CASE_READ,
        query=m.CaseListQuery,
        response=m.CasePageOut,
        errors=(422,),
    ),
    *api_register.ROUTES,
    # before /cases/{tracking_no}: aiohttp matches in registration order
    Route(
        "GET",
        f"{API_PREFIX}/cases/export.csv",
        export_csv,
        "exportCasesCsv",
        "Export the filtered case list as CSV (UTF-8 with BOM)",
        "cases",
        Permission.EXPORT,
        query=m.ExportQuery,
        files=("text/csv",),
        errors=(422,),
    ),
    Route(
        "GET",
        f"{API_PREFIX}/cases/export.xlsx",
        export_xlsx,
        "exportCasesXlsx",
        "Export the filtered case list as XLSX",
        "cases",
        Permission.EXPORT,
        query=m.ExportQuery,
        files=(XLSX,),
        errors=(422,),
    ),
    *api_bulk.ROUTES,
    Route(
        "GET",
        f"{API_PREFIX}/cases/{{tracking_no}}",
        case_detail,
        "getCase",
        "One case: fields, timeline, links, attachments, allowed actions",
        "cases",
        Permission.CASE_READ,
        response=m.CaseDetailOut,
        errors=(404,),
        params=(CASE,),
        description="Unknown cases and cases outside the member's departments are both 404.",
    ),
    Route(
        "GET",
        f"{API_PREFIX}/cases/{{tracking_no}}/attachments/{{attachment_id:{ID}}}",
        attachment,
        "getAttachment",
        "A file the petitioner sent",
        "cases",
        Permission.CASE_READ,
        files=("application/octet-stream", "image/*", "audio/*", "video/mp4", "application/pdf"),
        errors=(404,),
        params=(CASE, ATTACHMENT),
    ),
    *(
        Route(
            "POST",
            f"{API_PREFIX}/cases/{{tracking_no}}/actions/{spec.name}",
            action_handler(spec.name),
            f"caseAction_{spec.name}",
            spec.summary,
            "actions",
            Permission.CASE_ACT,
            body=m.ACTION_BODIES[spec.name],
            response=m.ActionResult,
            errors=(400, 404, 409, 413, 415, 422),
            params=(CASE,),
            body_optional=not any(
                f.is_required() for f in m.ACTION_BODIES[spec.name].model_fields.values()
            ),
            description=(
                "409: the case's status does not allow this action; "
                "422: invalid parameters (field errors)."
            ),
        )
        for spec in ACTIONS
    ),
    Route(
        "GET",
        f"{API_PREFIX}/todo",
        my_todo,
        "myTodo",
        "我的待办: my open cases and my departments' untaken ones, by deadline",
        "cases",
        Permission.CASE_READ,
        response=m.TodoOut,
    ),
    Route(
        "GET",
        f"{API_PREFIX}/dashboard",
        dashboard,
        "dashboard",
        "Counts, deadline lists, weekly intake and the measures of a period",
        "dashboard",
        Permission.CASE_READ,
        query=m.PeriodQuery,
        response=m.DashboardOut,
        errors=(422,),
    ),
    *api_kpis.ROUTES,
    Route(
        "POST",
        f"{API_PREFIX}/broadcasts/preview",
        broadcast_preview,
        "previewBroadcast",
        "Recipients per channel of an audience",
        "broadcasts",
        Permission.BROADCAST,
        body=m.PreviewIn,
        response=m.PreviewOut,
        errors=(400, 413, 415, 422),
    ),
    Route(
        "POST",
        f"{API_PREFIX}/broadcasts",
        broadcast_start,
        "startBroadcast",
        "Send a broadcast (queued through the outbox)",
        "broadcasts",
        Permission.BROADCAST,
        body=m.BroadcastIn,
        response=m.BroadcastOut,
        status=201,
        errors=(400, 413, 415, 422),
    ),
    Route(
        "GET",
        f"{API_PREFIX}/broadcasts",
        broadcast_list,
        "listBroadcasts",
        "Recent broadcasts with their progress",
        "broadcasts",
        Permission.BROADCAST,
        query=m.BroadcastListQuery,
        response=m.BroadcastList,
        errors=(422,),
    ),
    Route(
        "GET",
        f"{API_PREFIX}/broadcasts/{{broadcast_id:{ID}}}",
        broadcast_get,
        "getBroadcast",
        "A broadcast's progress (sent / failed / pending)",
        "broadcasts",
        Permission.BROADCAST,
        response=m.BroadcastOut,
        errors=(404,),
        params=(BROADCAST,),
    ),
    Route(
        "POST",
        f"{API_PREFIX}/broadcasts/{{broadcast_id:{ID}}}/cancel",
        broadcast_cancel,
        "cancelBroadcast",
        "Cancel a broadcast (rows not yet sent)",
        "broadcasts",
        Permission.BROADCAST,
        response=m.BroadcastOut,
        errors=(404, 409),
        params=(BROADCAST,),
    ),
    *(
        Route(
            "POST",
            f"{API_PREFIX}/broadcasts/{{broadcast_id:{ID}}}/{verb}",
            broadcast_decision(verb == "approve"),
            f"{verb}Broadcast",
            summary,
            "broadcasts",
            Permission.BROADCAST,
            response=m.BroadcastOut,
            errors=(404, 409),
            params=(BROADCAST,),
            description="403 own_broadcast: the account that created it cannot decide on it.",
        )
        for verb, summary in (
            ("approve", "Approve a broadcast awaiting a second account (queued or scheduled)"),
            ("reject", "Reject a broadcast awaiting a second account (never sent)"),
        )
    ),
    Route(
        "GET",
        f"{API_PREFIX}/audit",
        audit_log,
        "auditLog",
        "The audit log, newest first",
        "audit",
        Permission.AUDIT_READ,
        query=m.AuditQuery,
        response=m.AuditPage,
        errors=(422,),
    ),
    *api_deliveries.ROUTES,
    *api_documents.ROUTES,
]


def add_routes(app: web.Application, services: ApiServices) -> None:
    """Mount the API on the application."""
    register(app, ROUTES, services)
