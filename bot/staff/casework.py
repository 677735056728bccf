"""What staff do with cases, for the console and the API alike: one facade, one set of checks.

Every method takes the acting :class:`StaffMember` and enforces, in this order, the role's
permission, the department scope (a case out of scope is "not found", so tracking numbers
are no oracle), then the state machine (through :class:`LifecycleService`). Every read of
a case and every action is written to the audit log; what a member sees of petitioners'
personal data is decided by :class:`bot.staff.pii_policy.PiiPolicy`.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cases import kpis
from bot.cases.authority import (
    REFUSALS,
    Actor,
    close_refusal,
    extension_refusal,
    handler_refusal,
    refusal,
)
from bot.cases.clocks import DeadlineState
from bot.cases.kpis import AcceptanceClock, Figure, KpiSlice, Period, Window, period_of
from bot.cases.lifecycle import Change
from bot.cases.service import LifecycleService
from bot.dialogs.texts import Texts
from bot.domain.search import audit_query
from bot.domain.statuses import LifecycleError, allowed_actions
from bot.domain.tracking import parse_tracking_no
from bot.staff.access import AccessDenied, Permission, StaffMember
from bot.staff.actions import BY_NAME, CASE_ACTIONS, Context, InvalidParams
from bot.staff.pii_policy import PiiPolicy
from bot.storage import cases as case_store
from bot.storage import staff as staff_store
from bot.storage.case_query import (
    CaseFilter,
    CasePage,
    Clock,
    Scope,
    Sort,
    list_cases,
    scope_clause,
)
from bot.storage.cases import CaseLink, CaseRow, Opinion
from bot.storage.db import Database
from bot.storage.staff import AuditRow
from bot.storage.tables import attachments, cases

DASHBOARD_WEEKS = 12
DASHBOARD_LIST = 20


class CaseNotFound(LookupError):
    """No such case, or not one this staff member may see (HTTP 404 either way)."""

    def __init__(self, message: str, hidden_case_id: int | None = None) -> None:
        super().__init__(message)
        self.hidden_case_id = hidden_case_id  # the case exists, outside the member's scope


class ActionError(ValueError):
    """The action was refused: bad parameters or an illegal transition (message says why)."""

    def __init__(
        self, message: str, *, conflict: bool = False, code: str = "", **params: Any
    ) -> None:
        super().__init__(message)
        self.conflict = conflict  # True for a transition the current status does not allow
        self.code = code  # why, for pages to word in their language (see REFUSAL_CODES)
        self.params = params  # what the code's text names (a field, a date, a limit)


@dataclass(frozen=True, slots=True)
class AttachmentRow:
    """A file of a case: the petitioner's material, or an office file (``origin``)."""

    id: int
    kind: str
    mime: str
    filename: str
    size: int
    media_ref: str
    created_at: datetime
    origin: str = "petitioner"  # or "staff": investigation material, signed opinions
    in_document: bool = False  # an office file the petitioner receives with a document
    uploaded_by: str = ""  # "staff:<login>" for a file staff uploaded


@dataclass(frozen=True, slots=True)
class StaffCaseView:
    """Everything a staff member sees on a case page."""

    case: CaseRow
    events: list[Any]
    links: list[CaseLink]
    numbers: dict[int, str]
    deadline: DeadlineState | None
    attachments: list[AttachmentRow]
    allowed_actions: list[str]  # of CASE_ACTIONS, for this member and the current status
    opinions: list[Opinion] = field(default_factory=list)  # every written opinion, in order
    # CASE_ACTIONS the status allows but this member may not take: action -> reason code
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def suggested(self) -> list[CaseLink]:
        """Duplicate suggestions not yet linked."""
        return [link for link in self.links if link.kind == "suggested"]


@dataclass(frozen=True, slots=True)
class WeekCounts:
    """New cases in one week (Monday start, office time) by channel, category and region."""

    week_start: date
    by_channel: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    by_region: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """All new cases of the week."""
        return sum(self.by_channel.values())


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The measures staff are judged by (DOMAIN.md), within the member's scope."""

    counts_by_status: dict[str, int]
    overdue: list[CaseRow]
    overdue_total: int
    near_due: list[CaseRow]
    near_due_total: int
    weekly: list[WeekCounts]
    period: Period
    figures: dict[str, Figure]  # every measure of bot.cases.kpis over the period
    missing_calendar_years: list[int]
    overdue_capped: bool = False  # overdue_total is the list's count cap; there are more
    near_due_capped: bool = False


async def visible_case(conn: AsyncConnection, member: StaffMember, tracking_no: str) -> CaseRow:
    """The case, if this member may see it (else CaseNotFound, like a wrong number)."""
    parsed = parse_tracking_no(tracking_no)
    case = (
        await case_store.by_tracking_no(conn, parsed.canonical)
        if parsed.outcome == "valid"
        else None
    )
    if case is None:
        raise CaseNotFound(f"no case {tracking_no}")
    if not member.in_scope(case.department, case.co_departments):
        raise CaseNotFound(f"no case {tracking_no}", case.id)
    return case


class Casework:
    """The staff-facing case operations (see module docstring)."""

    def __init__(
        self,
        db: Database,
        lifecycle: LifecycleService,
        texts: Texts,
        *,
        attachments_dir: Path,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.lifecycle = lifecycle
        self.texts = texts
        self.attachments_dir = attachments_dir
        self.clock = clock or lifecycle.clock

    # ------------------------------------------------------------------ reads

    def deadline_clock(self) -> Clock:
        """Now, the end of the near-due window and the acceptance clock, for
        CaseFilter(deadline=…) and CaseFilter(kpi=…)."""
        now = self.clock()
        cfg = self.lifecycle.config
        today = now.astimezone(self.lifecycle.tz).date()
        last = cfg.calendar.add_days(today, cfg.clocks.near_due_days, working=True)
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), self.lifecycle.tz)
        return Clock(now=now, near_due_until=end, acceptance=self.acceptance_clock())

    def acceptance_clock(self) -> AcceptanceClock:
        """受理期限 of a petition by its day of submission (the KPIs' 及时受理率)."""
        cfg = self.lifecycle.config
        return AcceptanceClock(cfg.clocks.acceptance, cfg.calendar, self.lifecycle.tz)

    def period(
        self, kind: str = "month", day: date | None = None, last: date | None = None
    ) -> Period:
        """A KPI period in office time; by default the current month (raises PeriodError)."""
        today = self.clock().astimezone(self.lifecycle.tz).date()
        return period_of(kind, day or today, last)

    def window(self, conn: AsyncConnection, period: Period) -> Window:
        """The KPI window of a period, measured now."""
        return kpis.window(period, self.clock(), self.acceptance_clock(), conn.dialect.name)

    async def list(
        self,
        member: StaffMember,
        flt: CaseFilter,
        *,
        sort: Sort | None = None,
        page: int = 1,
        per_page: int = 50,
        ip: str = "",
        via: str = "",
    ) -> CasePage:
        """One page of the cases in the member's scope matching the filter (audited)."""
        member.require(Permission.CASE_READ)
        async with self.db.read() as conn:
            result = await list_cases(
                conn,
                flt,
                scope_of(member),
                sort=sort or Sort(),
                page=page,
                per_page=per_page,
                clock=self.deadline_clock(),
            )
        await self._audit(member, "case.search", ip=ip, via=via, detail=filter_summary(flt))
        return dataclasses.replace(result, rows=_shown(member, result.rows))

    async def detail(
        self, member: StaffMember, tracking_no: str, *, ip: str = "", via: str = ""
    ) -> StaffCaseView:
        """A case with timeline, links, attachments and allowed actions (audited)."""
        member.require(Permission.CASE_READ)
        async with self.db.read() as conn:
            case = await self._visible(conn, member, tracking_no)
            events = await case_store.events(conn, case.id)
            links, numbers = await self._links(conn, member, case)
            files = await _attachments(conn, case.id)
            opinions = await case_store.opinions(conn, case.id)
        await self._audit(member, "case.read", case_id=case.id, ip=ip, via=via)
        deadline = self.lifecycle.deadline(case.due_at) if case.due_at else None
        refused = self.refused(member, case, opinions)
        allowed = [a for a in self.allowed(member, case) if a not in refused]
        policy = PiiPolicy.of(member)
        events = policy.events(case, events)
        files = policy.attachments(case, files)
        opinions = policy.opinions(case, opinions)
        case = policy.case(case)
        return StaffCaseView(
            case, events, links, numbers, deadline, files, allowed, opinions, refused
        )

    async def _links(
        self, conn: AsyncConnection, member: StaffMember, case: CaseRow
    ) -> tuple[builtins.list[CaseLink], dict[int, str]]:
        """The case's links and the numbers of the cases they name. A suggested duplicate
        outside the member's departments is left out (its number is not theirs to see);
        cases linked by staff into one matter are shown."""
        found: dict[int, str] = {}
        hidden: set[int] = set()
        links = await case_store.links_of(conn, case.id)
        others = {case.linked_to, *(x for ln in links for x in (ln.case_id, ln.other_case_id))}
        for other_id in others - {None, case.id}:
            assert other_id is not None
            other = await case_store.by_id(conn, other_id)
            if other is not None:
                found[other.id] = other.tracking_no
                if not member.in_scope(other.department, other.co_departments):
                    hidden.add(other.id)
        kept = [
            link
            for link in links
            if not (link.kind == "suggested" and {link.case_id, link.other_case_id} & hidden)
        ]
        shown = {case.linked_to, *(x for ln in kept for x in (ln.case_id, ln.other_case_id))}
        return kept, {k: v for k, v in found.items() if k in shown}

    def allowed(self, member: StaffMember, case: CaseRow) -> builtins.list[str]:
        """The CASE_ACTIONS the case's current status allows, for a member who may act."""
        if not member.can(Permission.CASE_ACT):
            return []
        machine = set(allowed_actions(case.status))
        return [spec.name for spec in BY_NAME.values() if spec.open_in(case.status, machine)]

    async def handlers(self, department: str) -> builtins.list[tuple[str, str]]:
        """(login, display name) of the active handlers of a department, by login."""
        async with self.db.read() as conn:
            rows = await staff_store.list_staff(conn)
        return sorted(
            (r.login, r.display_name)
            for r in rows
            if r.active and r.role == "handler" and department in r.departments
        )

    async def permitted(self, member: StaffMember, case: CaseRow) -> builtins.list[str]:
        """The actions this member may take on the case now (status and authority)."""
        async with self.db.read() as conn:
            refused = self.refused(member, case, await case_store.opinions(conn, case.id))
        return [a for a in self.allowed(member, case) if a not in refused]

    def refused(
        self, member: StaffMember, case: CaseRow, opinions: Sequence[Opinion]
    ) -> dict[str, str]:
        """Of the actions the status allows, those the authority rules (who decides, the
        extension limits) refuse this member, each with its reason code."""
        rules = self.lifecycle.config.authority
        who = Actor(member.actor, member.departments, office=member.sees_all_departments)
        out = {}
        for action in self.allowed(member, case):
            code = refusal(rules, _machine_action(action, case), who, case, opinions)
            if code is None and action == "extend":
                allowed = self.lifecycle.config.clocks.extensions_allowed
                code = extension_refusal(case, self.clock(), allowed)
            if code is None and action == "close":
                code = close_refusal(case, self.clock())
            if action == "assign_handler":  # who names whom: a rule of its own
                code = handler_refusal(who, case, None)
            if code is not None:
                out[action] = code
        return out

    async def attachment(
        self,
        member: StaffMember,
        tracking_no: str,
        attachment_id: int,
        *,
        ip: str = "",
        via: str = "",
    ) -> tuple[AttachmentRow, Path]:
        """An attachment of a visible case and its file path (audited). The originals
        (ID photos, documents) need personal-data access; others see them listed only."""
        member.require(Permission.CASE_READ)
        PiiPolicy.of(member).require_download()
        async with self.db.read() as conn:
            case = await self._visible(conn, member, tracking_no)
            files = {a.id: a for a in await _attachments(conn, case.id)}
        found = files.get(attachment_id)
        path = (self.attachments_dir / found.media_ref).resolve() if found else None
        if found is None or path is None or not path.is_relative_to(self.attachments_dir.resolve()):
            raise CaseNotFound(f"no attachment {attachment_id} on this case")
        await self._audit(
            member, "case.attachment", case_id=case.id, ip=ip, via=via, target=str(attachment_id)
        )
        return found, path

    # ------------------------------------------------------------------ actions

    async def act(
        self,
        member: StaffMember,
        tracking_no: str,
        action: str,
        params: dict[str, Any],
        *,
        ip: str = "",
        via: str = "",
    ) -> Change:
        """Take an action of the catalogue (bot.staff.actions) on a visible case: role,
        scope and authority first, then the spec's parameters, then the lifecycle."""
        member.require(Permission.CASE_ACT)
        spec = BY_NAME.get(action)
        if spec is None:
            raise ActionError(
                f"unknown action {action!r}; one of {', '.join(CASE_ACTIONS)}",
                code="invalid",
                field="action",
            )
        async with self.db.read() as conn:
            case = await self._visible(conn, member, tracking_no)
            if action == "link":  # both cases must be in scope
                await self._visible(conn, member, str(params.get("primary") or ""))
            refused = self.refused(member, case, await case_store.opinions(conn, case.id))
        who = Actor(member.actor, member.departments, office=member.sees_all_departments)
        if action == "assign_handler" and action not in refused:
            code = handler_refusal(who, case, str(params.get("handler") or "").strip())
            if code is not None:
                refused[action] = code
        if refused.get(action) in REFUSALS:  # the rest the state machine words with its date
            raise ActionError(f"{action} refused: {refused[action]}", code=refused[action])
        try:
            values = spec.clean(params)
        except InvalidParams as exc:
            raise ActionError(str(exc), code=exc.code, **exc.params) from None
        lead = case.department in member.departments
        ctx = Context(
            member.actor,
            by_department=_deciding_department(member, case),
            co_department="" if lead else _co_department(member, case),
        )
        try:
            done = await spec.run(self.lifecycle, case.tracking_no, values, ctx)
        except LifecycleError as exc:
            conflict = exc.code in ("conflict", "close_too_early")
            raise ActionError(str(exc), conflict=conflict, code=exc.code, **exc.params) from exc
        audited = {k: v for k, v in values.items() if k in ("outcome", "department", "flag")}
        if action == "assign_handler":
            audited["handler"] = values["handler"]
        await self._audit(
            member, spec.audited(values), case_id=case.id, ip=ip, via=via, detail=audited
        )
        return done.change

    # ------------------------------------------------------------------ dashboard

    async def dashboard(self, member: StaffMember, period: Period | None = None) -> Dashboard:
        """Counts, deadline lists, weekly intake and the KPIs of a period (by default the
        current month), in the member's scope."""
        member.require(Permission.CASE_READ)
        period = period or self.period()
        scope = scope_of(member)
        clock = self.deadline_clock()
        async with self.db.read() as conn:
            where = [c for c in [scope_clause(conn, scope)] if c is not None]
            by_status = {
                row[0]: int(row[1])
                for row in await conn.execute(
                    select(cases.c.status, func.count()).where(*where).group_by(cases.c.status)
                )
            }
            due_sort = Sort("due_at", descending=False)
            overdue = await list_cases(
                conn,
                CaseFilter(deadline="overdue"),
                scope,
                sort=due_sort,
                per_page=DASHBOARD_LIST,
                clock=clock,
            )
            near = await list_cases(
                conn,
                CaseFilter(deadline="near_due"),
                scope,
                sort=due_sort,
                per_page=DASHBOARD_LIST,
                clock=clock,
            )
            weekly = await self._weekly(conn, where)
            figures = (await kpis.count(conn, self.window(conn, period), where))[None]
        return Dashboard(
            counts_by_status=by_status,
            overdue=_shown(member, overdue.rows),
            overdue_total=overdue.total,
            near_due=_shown(member, near.rows),
            near_due_total=near.total,
            weekly=weekly,
            period=period,
            figures=figures,
            missing_calendar_years=self.lifecycle.calendar_gaps(),
            overdue_capped=overdue.total_capped,
            near_due_capped=near.total_capped,
        )

    async def _weekly(
        self, conn: AsyncConnection, where: builtins.list[Any]
    ) -> builtins.list[WeekCounts]:
        tz = self.lifecycle.tz
        today = self.clock().astimezone(tz).date()
        first_monday = today - timedelta(days=today.weekday() + 7 * (DASHBOARD_WEEKS - 1))
        since = datetime.combine(first_monday, datetime.min.time(), tz)
        week = _week_expr(conn, tz.key)
        weeks = {
            first_monday + timedelta(weeks=i): WeekCounts(first_monday + timedelta(weeks=i))
            for i in range(DASHBOARD_WEEKS)
        }
        for column, attr in (
            (cases.c.channel, "by_channel"),
            (cases.c.category, "by_category"),
            (cases.c.region, "by_region"),
        ):
            query = (
                select(week.label("week"), column, func.count())
                .where(*where, cases.c.submitted_at >= since)
                .group_by(literal_column("week"), column)
            )
            for week_value, key, n in await conn.execute(query):
                start = (
                    week_value
                    if isinstance(week_value, date)
                    else date.fromisoformat(str(week_value)[:10])
                )
                if start in weeks:
                    getattr(weeks[start], attr)[key] = int(n)
        return [weeks[k] for k in sorted(weeks)]

    # ------------------------------------------------------------------ audit log

    async def audit_log(
        self,
        member: StaffMember,
        *,
        actor: str = "",
        action: str = "",
        tracking_no: str = "",
        since: date | None = None,
        until: date | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> tuple[builtins.list[AuditRow], dict[int, str]]:
        """Audit entries, newest first, and the tracking numbers of their cases (audit.read).

        ``since`` and ``until`` are office days, both included.
        """
        member.require(Permission.AUDIT_READ)
        midnight = datetime.min.time().replace(tzinfo=self.lifecycle.tz)
        start = datetime.combine(since, midnight) if since else None
        end = datetime.combine(until + timedelta(days=1), midnight) if until else None
        async with self.db.read() as conn:
            case_id: int | None = None
            if tracking_no:
                parsed = parse_tracking_no(tracking_no)
                found = (
                    await case_store.by_tracking_no(conn, parsed.canonical)
                    if parsed.outcome == "valid"
                    else None
                )
                if found is None:
                    return [], {}
                case_id = found.id
            rows = await staff_store.list_audit(
                conn,
                actor=actor,
                action=action,
                case_id=case_id,
                since=start,
                until=end,
                before_id=before_id,
                limit=max(1, min(limit, 500)),
            )
            ids = sorted({r.case_id for r in rows if r.case_id is not None})
            numbers: dict[int, str] = {}
            if ids:
                result = await conn.execute(
                    select(cases.c.id, cases.c.tracking_no).where(cases.c.id.in_(ids))
                )
                numbers = {int(r[0]): str(r[1]) for r in result}
        policy = PiiPolicy.of(member)
        shown = [dataclasses.replace(r, detail=policy.audit_detail(r.detail)) for r in rows]
        return shown, numbers

    # ------------------------------------------------------------------ helpers

    async def _visible(
        self, conn: AsyncConnection, member: StaffMember, tracking_no: str
    ) -> CaseRow:
        return await visible_case(conn, member, tracking_no)

    async def record(
        self,
        member: StaffMember,
        action: str,
        *,
        case_id: int | None = None,
        ip: str = "",
        target: str = "",
        detail: dict[str, Any] | None = None,
        via: str = "",
    ) -> None:
        """Write an audit entry for something staff did through this facade (bulk work)."""
        await self._audit(
            member, action, case_id=case_id, ip=ip, target=target, detail=detail, via=via
        )

    async def _audit(
        self,
        member: StaffMember,
        action: str,
        *,
        case_id: int | None = None,
        ip: str = "",
        target: str = "",
        detail: dict[str, Any] | None = None,
        via: str = "",
    ) -> None:
        if via:  # how the member came in: "session" (console) or "token" (API)
            detail = {**(detail or {}), "via": via}
        async with self.db.transaction() as conn:
            await staff_store.add_audit(
                conn,
                at=self.clock(),
                actor=member.login,
                action=action,
                staff_id=member.id,
                case_id=case_id,
                target=target,
                detail=detail or None,
                ip=ip,
            )


def _machine_action(action: str, case: CaseRow) -> str:
    """The state machine's name of a staff action on this case ("decide" is either)."""
    if action == "decide":
        return "decide_recheck" if case.status == "recheck_requested" else "decide_review"
    return action


def _deciding_department(member: StaffMember, case: CaseRow) -> str:
    """The department an opinion is written in: the lead's when the member belongs to it,
    else the member's own; "" for the supervising office (督办 staff)."""
    if member.sees_all_departments or not member.departments:
        return ""
    return case.department if case.department in member.departments else member.departments[0]


def _co_department(member: StaffMember, case: CaseRow) -> str:
    """The co-handling department a member writes for on this case, if any."""
    return next((d for d in member.departments if d in case.co_departments), "")


def scope_of(member: StaffMember) -> Scope:
    """The department scope of a staff member."""
    departments = None if member.sees_all_departments else member.departments
    return Scope.of(departments, personal=PiiPolicy.of(member).searches_personal)


def filter_summary(flt: CaseFilter) -> dict[str, Any]:
    """A filter as audit detail (the search text masked: it may be a name or a phone)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(flt):
        value = getattr(flt, f.name)
        if f.name == "q" and value:
            out["q"] = audit_query(value)
        elif value:
            if isinstance(value, KpiSlice):
                value = value.as_json()
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _shown(member: StaffMember, rows: builtins.list[CaseRow]) -> builtins.list[CaseRow]:
    """Cases as this member may see them (:class:`PiiPolicy`)."""
    return PiiPolicy.of(member).cases(rows)


def _week_expr(conn: AsyncConnection, tz: str) -> Any:
    """The Monday (office time) of a case's submission week."""
    if conn.dialect.name == "postgresql":
        local = func.timezone(tz, cases.c.submitted_at)
        return func.date(func.date_trunc("week", local))
    # SQLite stores UTC text; shift to office time by the zone's fixed offset (China has no DST)
    hours = _fixed_offset_hours(tz)
    shifted = func.datetime(cases.c.submitted_at, f"{hours:+d} hours")
    return func.date(shifted, "weekday 0", "-6 days")


def _fixed_offset_hours(tz: str) -> int:
    delta = datetime(2026, 1, 1, tzinfo=ZoneInfo(tz)).utcoffset()
    return int(delta.total_seconds() // 3600) if delta else 0


async def _attachments(conn: AsyncConnection, case_id: int) -> list[AttachmentRow]:
    rows = await conn.execute(
        select(attachments).where(attachments.c.case_id == case_id).order_by(attachments.c.id)
    )
    return [
        AttachmentRow(
            r.id,
            r.kind,
            r.mime,
            r.filename,
            r.size,
            r.media_ref,
            r.created_at,
            r.origin,
            bool(r.in_document),
            r.uploaded_by,
        )
        for r in rows
    ]


__all__ = [
    "CASE_ACTIONS",
    "AccessDenied",
    "ActionError",
    "AttachmentRow",
    "CaseNotFound",
    "Casework",
    "Dashboard",
    "StaffCaseView",
    "WeekCounts",
    "filter_summary",
    "scope_of",
]
