"""The lifecycle API for staff (and the citizen actions intake resolves): one facade.

Every method is checked against the state machine (:mod:`bot.cases.lifecycle`) and runs
in one transaction. :class:`Registrar` enriches a case at registration: default
department from routing, acceptance deadline from the clocks, flags (初信初访, 重复访, …)
and duplicate suggestions stored in ``case_links``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.case_links import CaseLinks
from bot.cases.authority import Authority, load_authority
from bot.cases.calendar import Calendar, load_calendar
from bot.cases.clocks import Clocks, DeadlineState, deadline_state, due_at, load_clocks
from bot.cases.documents import DocumentConfig, DocumentIssuer, load_document_config
from bot.cases.flagging import FlagKeeper, petition_text
from bot.cases.flags import STAFF_SETTABLE, FlagRules, load_flag_rules
from bot.cases.lifecycle import Change, Lifecycle
from bot.cases.notice_routes import NoticeRoutes
from bot.cases.registration import StatusWords
from bot.cases.routing import Routing, load_routing
from bot.cases.similarity import suggest_duplicates
from bot.clock import utc_now
from bot.dialogs.texts import Texts
from bot.domain.statuses import OPEN_STATUSES, RATINGS, WITHDRAWABLE, LifecycleError
from bot.domain.tracking import format_tracking_no, parse_tracking_no
from bot.storage import cases
from bot.storage import staff as staff_store
from bot.storage.cases import CaseLink, CaseRow, Opinion
from bot.storage.db import Database

# actions after which flags are recomputed: links change groups, the others add citizen text
FLAG_INPUTS = frozenset({"link", "request_review", "request_recheck", "rate"})
DUPLICATE_LOOKBACK = timedelta(days=365)  # suggestions come from the last year's cases
RATABLE = ("answered", "reviewed", "rechecked", "closed")


@dataclass(frozen=True)
class CaseConfig:
    """The lifecycle configuration: clocks, calendar, routing, flag rules."""

    clocks: Clocks
    calendar: Calendar
    routing: Routing
    flag_rules: FlagRules
    authority: Authority
    documents: DocumentConfig | None = None  # config/documents.yaml (None: no documents)


def load_case_config(config_dir: Path) -> CaseConfig:
    """Load config/lifecycle.yaml, config/calendar/, config/departments.yaml, flags.yaml."""
    return CaseConfig(
        clocks=load_clocks(config_dir),
        calendar=load_calendar(config_dir),
        routing=load_routing(config_dir),
        flag_rules=load_flag_rules(config_dir),
        authority=load_authority(config_dir),
        documents=load_document_config(config_dir),
    )


@dataclass
class Registrar:
    """Registration enrichment, in the transaction that creates the case."""

    config: CaseConfig
    tz: ZoneInfo

    @property
    def keeper(self) -> FlagKeeper:
        """The flag computation with the configured rules."""
        return FlagKeeper(self.config.flag_rules, self.tz)

    async def enrich(self, conn: AsyncConnection, case_id: int, now: datetime) -> None:
        """Route the case, set its deadline and flags, store duplicate suggestions, and
        refresh the flags of the citizen's other cases (a repeat marks the earlier one)."""
        case = await cases.by_id(conn, case_id)
        if case is None:
            raise LifecycleError(f"no case with id {case_id}")
        cfg = self.config
        route = cfg.routing.route(case.region, case.category)
        await cases.update_case(
            conn,
            case.id,
            now,
            department=route.department,
            co_departments=list(route.co_departments),
            due_at=due_at(case.submitted_at, cfg.clocks.acceptance, cfg.calendar, self.tz),
        )
        keeper = self.keeper
        await keeper.refresh(conn, case.id, now, cause="registration", record=False)
        await keeper.refresh_all(conn, await keeper.related(conn, case), now, cause="later_case")
        pool = await cases.similar_candidates(
            conn,
            region=case.region,
            category=case.category,
            since=now - DUPLICATE_LOOKBACK,
            exclude_id=case.id,
        )
        hits = suggest_duplicates(
            petition_text(case),
            [petition_text(c) for c in pool],
            threshold=cfg.flag_rules.duplicate_threshold,
        )
        earlier_no = parse_tracking_no(str(case.answers.get("earlier_tracking_no") or ""))
        if earlier_no.outcome == "valid":  # the citizen named the earlier case themselves
            named = await cases.by_tracking_no(conn, earlier_no.canonical)
            if named is not None and named.id != case.id:
                hits = [(named.id, 1.0), *(h for h in hits if h[0] != named.id)]
        for other_id, score in hits:
            await cases.put_link(conn, case.id, other_id, kind="suggested", score=score, now=now)


@dataclass(frozen=True, slots=True)
class DueCase:
    """An open case whose current deadline is near or past."""

    case: CaseRow
    due: datetime
    state: DeadlineState


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """Everything staff see about one case."""

    case: CaseRow
    events: list[Any]
    links: list[CaseLink]
    deadline: DeadlineState | None
    numbers: dict[int, str] = field(default_factory=dict)  # tracking numbers of linked cases


@dataclass(frozen=True, slots=True)
class CitizenAction:
    """What became of a citizen's rating or review request (for the dialog engine)."""

    # "rated" | "requested" | "confirm" (described, not filed) | "already" (under review)
    # | "choose" (several cases fit) | "none" | "window_closed"
    outcome: str
    tracking_no: str = ""
    # the decision deadline, the last day to ask (also after a 不满意 rating), or the day it
    # closed
    date: str = ""
    stage: str = ""  # "review" | "recheck"
    candidates: tuple[CaseRow, ...] = ()  # "choose": the cases the citizen picks from


class LifecycleService:
    """Staff actions on cases, each checked against the state machine, one transaction each."""

    def __init__(
        self,
        db: Database,
        config: CaseConfig,
        texts: Texts,
        *,
        timezone: str = "Asia/Shanghai",
        clock: Callable[[], datetime] = utc_now,
        links: CaseLinks | None = None,
        channels: Collection[str] | None = None,
        off: Mapping[str, str] | None = None,
    ) -> None:
        """``channels``: the names of the channels that deliver (None: unknown, a CLI);
        a notice for another one is recorded failed (:class:`NoticeRoutes`)."""
        self.db = db
        self.config = config
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        routing = config.routing

        def name(code: str, lang: str) -> str:
            dept = routing.departments.get(code)
            if dept is None:
                return code
            return dept.name_en if lang == "en" else dept.name_zh

        self.lifecycle = Lifecycle(
            clocks=config.clocks,
            calendar=config.calendar,
            texts=texts,
            tz=self.tz,
            department_name=name,
            department_known=lambda code: code in routing.departments,
            links=links,
            documents=DocumentIssuer(config.documents, texts, self.tz, name)
            if config.documents is not None
            else None,
            enqueue=NoticeRoutes(channels, off),
        )
        self.registrar = Registrar(config, self.tz)

    # ------------------------------------------------------------------ staff actions
    # Each action takes two texts: ``message`` is told to the petitioner (pushed with the
    # action's notice and shown in their status answers), ``note`` is internal.

    async def accept(
        self, tracking_no: str, *, actor: str, note: str = "", message: str = ""
    ) -> Change:
        """受理."""
        return await self._do(tracking_no, "accept", actor, note, message)

    async def reject(
        self,
        tracking_no: str,
        *,
        actor: str,
        reason: str,
        channel: str,
        note: str = "",
        message: str = "",
    ) -> Change:
        """不予受理, with the reason and the proper channel to go to."""
        return await self._do(
            tracking_no, "reject", actor, note, message, reason=reason, channel=channel
        )

    async def transfer(
        self, tracking_no: str, *, actor: str, to: str, note: str = "", message: str = ""
    ) -> Change:
        """转送 to the competent organ."""
        return await self._do(tracking_no, "transfer", actor, note, message, to=to)

    async def assign(
        self,
        tracking_no: str,
        *,
        actor: str,
        department: str = "",
        co_departments: Sequence[str] | None = None,
        note: str = "",
        message: str = "",
    ) -> Change:
        """交办 to a department (default: the routed one) with optional co-departments."""
        if not department:
            case = await self.get(tracking_no)
            route = self.config.routing.route(case.region, case.category)
            department = case.department or route.department
            if co_departments is None:
                co_departments = case.co_departments or route.co_departments
        return await self._do(
            tracking_no,
            "assign",
            actor,
            note,
            message,
            department=department,
            co_departments=list(co_departments or ()),
        )

    async def start(
        self, tracking_no: str, *, actor: str, note: str = "", message: str = ""
    ) -> Change:
        """办理中."""
        return await self._do(tracking_no, "start", actor, note, message)

    async def extend(
        self,
        tracking_no: str,
        *,
        actor: str,
        reason: str,
        days: int,
        note: str = "",
        message: str = "",
    ) -> Change:
        """延期 by ``days`` (within the configured limits), with the reason told to the citizen."""
        return await self._do(tracking_no, "extend", actor, note, message, reason=reason, days=days)

    async def answer(
        self,
        tracking_no: str,
        *,
        actor: str,
        text: str,
        outcome: str,
        note: str = "",
        message: str = "",
        by_department: str | None = None,
    ) -> Change:
        """答复: the written opinion (支持 / 解释说明 / 不予支持) of ``by_department``
        (None: the lead department)."""
        return await self._do(
            tracking_no,
            "answer",
            actor,
            note,
            message,
            text=text,
            outcome=outcome,
            by_department=by_department,
        )

    async def decide_review(
        self,
        tracking_no: str,
        *,
        actor: str,
        text: str,
        outcome: str,
        note: str = "",
        message: str = "",
        by_department: str | None = None,
    ) -> Change:
        """复查 or 复核 decision, whichever the case is waiting for, by ``by_department``
        ("": the petition office itself; None: the lead department)."""
        case = await self.get(tracking_no)
        action = "decide_recheck" if case.status == "recheck_requested" else "decide_review"
        return await self._do(
            tracking_no,
            action,
            actor,
            note,
            message,
            text=text,
            outcome=outcome,
            by_department=by_department,
        )

    async def close(
        self, tracking_no: str, *, actor: str, note: str = "", message: str = ""
    ) -> Change:
        """办结 / 终结."""
        return await self._do(tracking_no, "close", actor, note, message)

    async def note(
        self, tracking_no: str, *, actor: str, text: str, co_department: str = ""
    ) -> Change:
        """An internal note on the timeline: staff only, never pushed nor shown to citizens;
        from a co-handling department (``co_department``) it is that department's 协办意见."""
        return await self._do(tracking_no, "note", actor, text, co_department=co_department)

    async def reply(self, tracking_no: str, *, actor: str, text: str, note: str = "") -> Change:
        """A message to the petitioner: pushed through their channel, shown in their status."""
        return await self._do(tracking_no, "reply", actor, note, text)

    async def link(
        self, tracking_no: str, primary: str, *, actor: str, note: str = "", message: str = ""
    ) -> Change:
        """Handle ``tracking_no`` together with the earlier case ``primary``."""
        primary_case = await self.get(primary)
        return await self._do(tracking_no, "link", actor, note, message, primary_id=primary_case.id)

    async def rate(
        self, tracking_no: str, *, rating: str, comment: str = "", actor: str = "citizen"
    ) -> Change:
        """评价 (满意 / 基本满意 / 不满意) of an answered case."""
        return await self._do(tracking_no, "rate", actor, "", rating=rating, comment=comment)

    async def request_review(
        self, tracking_no: str, *, actor: str = "citizen", reason: str = ""
    ) -> Change:
        """复查 request (or 复核 once reviewed), within the configured window."""
        case = await self.get(tracking_no)
        action = "request_recheck" if case.status == "reviewed" else "request_review"
        return await self._do(tracking_no, action, actor, "", reason=reason)

    async def set_flag(
        self, tracking_no: str, flag: str, *, actor: str, on: bool = True, note: str = ""
    ) -> list[str]:
        """Set or clear a staff flag (紧急, 重大疑难, 上级交办); recorded on the timeline only.

        The decision is an internal timeline event; the flags are then recomputed from
        it, so a later recomputation keeps what staff decided.
        """
        if flag not in STAFF_SETTABLE:
            raise LifecycleError(f"staff can set {', '.join(sorted(STAFF_SETTABLE))}, not {flag!r}")
        now = self.clock()
        async with self.db.transaction() as conn:
            case = await self._find(conn, tracking_no)
            case = await cases.by_id(conn, case.id, lock=True) or case
            await cases.add_event(
                conn,
                case.id,
                at=now,
                actor=actor,
                kind="flag_set" if on else "flag_cleared",
                note=note,
                public=False,  # flags are for staff, never shown to the citizen as labels
                data={"flag": flag},
            )
            return await self.registrar.keeper.refresh(
                conn, case.id, now, cause="staff_flag", record=False
            )

    async def set_handler(
        self, tracking_no: str, handler: str, *, actor: str, note: str = ""
    ) -> Change:
        """Name the case's handler (承办人): an active handler account of its lead
        department; "" returns it to the department's shared queue. Internal: staff only."""
        handler = handler.strip()
        now = self.clock()
        async with self.db.transaction() as conn:
            case = await self._find(conn, tracking_no)
            case = await cases.by_id(conn, case.id, lock=True) or case
            if case.status not in OPEN_STATUSES:
                raise LifecycleError(
                    f"case {format_tracking_no(case.tracking_no)} is {case.status!r}: "
                    "a closed case gets no handler",
                    "conflict",
                    status=case.status,
                )
            if handler:
                account = await staff_store.by_login(conn, handler)
                if (
                    account is None
                    or not account.active
                    or account.role != "handler"
                    or case.department not in account.departments
                ):
                    raise LifecycleError(
                        f"{handler!r} is no active handler of department "
                        f"{case.department or '(none)'}",
                        "handler_unknown",
                        handler=handler,
                        department=case.department,
                    )
            if handler == case.handler:
                raise LifecycleError("the case already has this handler", "handler_same")
            await cases.update_case(conn, case.id, now, handler=handler)
            await cases.add_event(
                conn,
                case.id,
                at=now,
                actor=actor,
                kind="handler_assigned",
                note=note,
                public=False,  # who works a case is the office's business
                data={"handler": handler, "before": case.handler},
            )
            after = await cases.by_id(conn, case.id) or case
        return Change(after, "assign_handler", 0, (after.tracking_no,))

    async def update_details(
        self, tracking_no: str, *, actor: str, note: str = "", **changes: Any
    ) -> list[str]:
        """Staff correct what the petition says about people, legal proceedings or earlier
        reports (e.g. after a phone call); the flags that depend on it are recomputed.

        Accepted: ``people_count`` (1..100000), ``legal_status`` (none, litigation,
        arbitration, admin_review, judged), ``reported_before`` (yes / no). Returns the
        case's flags afterwards.
        """
        values = _checked_details(changes)
        now = self.clock()
        async with self.db.transaction() as conn:
            case = await self._find(conn, tracking_no)
            case = await cases.by_id(conn, case.id, lock=True) or case
            before = {k: case.answers.get(k) for k in values}
            answers = {**case.answers, **values}
            columns: dict[str, Any] = {"answers": answers}
            if "people_count" in values:
                columns["people_count"] = values["people_count"]
            await cases.update_case(conn, case.id, now, **columns)
            await cases.add_event(
                conn,
                case.id,
                at=now,
                actor=actor,
                kind="details_corrected",
                note=note,
                public=False,
                data={"before": before, "after": values},
            )
            await self._refresh_group(conn, case, now, cause="details_corrected")
            after = await cases.by_id(conn, case.id)
        return after.flags if after else []

    # ------------------------------------------------------------------ queries

    async def get(self, tracking_no: str) -> CaseRow:
        """A case by its tracking number as staff type it (raises LifecycleError)."""
        async with self.db.read() as conn:
            return await self._find(conn, tracking_no)

    async def show(self, tracking_no: str) -> CaseDetail:
        """A case with its timeline, links and deadline state."""
        async with self.db.read() as conn:
            case = await self._find(conn, tracking_no)
            timeline = await cases.events(conn, case.id)
            links = await cases.links_of(conn, case.id)
            numbers: dict[int, str] = {}
            for other_id in {
                case.linked_to,
                *(x for link in links for x in (link.case_id, link.other_case_id)),
            }:
                other = await cases.by_id(conn, other_id) if other_id else None
                if other is not None:
                    numbers[other.id] = other.tracking_no
        state = self.deadline(case.due_at) if case.due_at else None
        return CaseDetail(case, timeline, links, state, numbers)

    def deadline(self, due: datetime) -> DeadlineState:
        """ok / near_due / overdue for a deadline, now."""
        cfg = self.config
        return deadline_state(due, self.clock(), cfg.clocks.near_due_days, cfg.calendar, self.tz)

    def calendar_gaps(self, horizon: timedelta = timedelta(days=365)) -> list[int]:
        """Years within ``horizon`` with no holiday calendar in config (Mon-Fri is assumed)."""
        today = self.clock().astimezone(self.tz).date()
        return self.config.calendar.missing_years(today, today + horizon)

    async def list_due(self, *, department: str = "", include_ok: bool = False) -> list[DueCase]:
        """Open cases that are overdue or near due (督办), earliest deadline first."""
        now = self.clock()
        near = self.config.clocks.near_due_days
        # near-due counts working days: a generous calendar bound, then the exact check
        horizon = now + timedelta(days=2 * near + 21)
        async with self.db.read() as conn:
            rows = await cases.with_deadline(
                conn,
                due_before=now + timedelta(days=3650) if include_ok else horizon,
                department=department,
            )
        out = []
        for case in rows:
            assert case.due_at is not None
            state = self.deadline(case.due_at)
            if include_ok or state != "ok":
                out.append(DueCase(case, case.due_at, state))
        return out

    def progress_in(self, lang: str) -> StatusWords:
        """How a status answer words a case in ``lang``: its latest event and details."""

        def describe(event: Any, case: CaseRow) -> str:
            return self.lifecycle.describe(event, case, lang)

        def details(case: CaseRow, owner: bool, opinions: Sequence[Opinion]) -> tuple[str, ...]:
            return self.lifecycle.status_details(case, lang, owner=owner, opinions=opinions)

        return StatusWords(describe, details)

    # ------------------------------------------------------------------ citizen actions

    async def rate_for_contact(
        self,
        conn: AsyncConnection,
        contact_id: int,
        *,
        rating: str,
        comment: str,
        tracking_no: str,
        now: datetime,
    ) -> CitizenAction:
        """A citizen's rating, in intake's transaction: the case they name, else their only
        answered case; with several, they choose."""
        if rating not in RATINGS:
            raise LifecycleError(f"rating must be one of {', '.join(RATINGS)}")
        fitting = await self._own_cases(conn, contact_id, tracking_no, RATABLE)
        if not fitting:
            return CitizenAction("none")
        if len(fitting) > 1:
            return CitizenAction("choose", candidates=tuple(fitting))
        case = fitting[0]
        await self._apply(conn, case.id, "rate", "citizen", now, rating=rating, comment=comment)
        until = case.request_until
        if rating != "dissatisfied" or case.status not in ("answered", "reviewed"):
            return CitizenAction("rated", case.tracking_no)
        if until is None or now > until:
            return CitizenAction("rated", case.tracking_no)
        # 不满意 while the citizen may still ask for 复查 (复核 after a review): they are told how
        stage = "recheck" if case.status == "reviewed" else "review"
        return CitizenAction("rated", case.tracking_no, self._day(until), stage)

    async def request_review_for_contact(
        self,
        conn: AsyncConnection,
        contact_id: int,
        *,
        stage: str,
        tracking_no: str,
        now: datetime,
        reason: str = "",
        confirmed: bool = True,
    ) -> CitizenAction:
        """A citizen's 复查 ("review") or 复核 ("recheck") request, in intake's transaction.

        Unconfirmed, it only says which case it would be filed on and until when it may
        be (outcome "confirm"); confirmed, it is filed with the citizen's reason.
        """
        status = "reviewed" if stage == "recheck" else "answered"
        waiting = ("review_requested", "recheck_requested")
        fitting = await self._own_cases(conn, contact_id, tracking_no, (status,))
        if not fitting:
            pending = await self._own_cases(conn, contact_id, tracking_no, waiting)
            if pending:
                case = pending[0]
                return CitizenAction("already", case.tracking_no, self._day(case.due_at), stage)
            return CitizenAction("none", stage=stage)
        if len(fitting) > 1:
            return CitizenAction("choose", stage=stage, candidates=tuple(fitting))
        case = fitting[0]  # the petitioner's own case, even in a linked group
        until = case.request_until
        if until is None or now > until:
            return CitizenAction("window_closed", case.tracking_no, self._day(until), stage)
        if not confirmed:
            return CitizenAction("confirm", case.tracking_no, self._day(until), stage)
        action = "request_recheck" if stage == "recheck" else "request_review"
        change = await self._apply(conn, case.id, action, "citizen", now, reason=reason)
        return CitizenAction("requested", case.tracking_no, self._day(change.case.due_at), stage)

    async def withdraw_for_contact(
        self,
        conn: AsyncConnection,
        contact_id: int,
        *,
        tracking_no: str,
        now: datetime,
        reason: str = "",
        confirmed: bool = True,
    ) -> CitizenAction:
        """撤回 of the citizen's own petition before it is answered, in intake's transaction:
        the case they name, else their only open one; described first, then done."""
        fitting = await self._own_cases(conn, contact_id, tracking_no, tuple(WITHDRAWABLE))
        if not fitting:
            answered = await self._own_cases(conn, contact_id, tracking_no, RATABLE)
            if tracking_no and answered:
                return CitizenAction("answered", answered[0].tracking_no)
            return CitizenAction("none")
        if len(fitting) > 1:
            return CitizenAction("choose", candidates=tuple(fitting))
        case = fitting[0]
        if not confirmed:
            return CitizenAction("confirm", case.tracking_no)
        await self._apply(conn, case.id, "withdraw", "citizen", now, reason=reason)
        return CitizenAction("withdrawn", case.tracking_no)

    def _day(self, when: datetime | None) -> str:
        return when.astimezone(self.tz).date().isoformat() if when else ""

    # ------------------------------------------------------------------ helpers

    async def _do(
        self, tracking_no: str, action: str, actor: str, note: str, message: str = "", **data: Any
    ) -> Change:
        async with self.db.transaction() as conn:
            case = await self._find(conn, tracking_no)
            return await self._apply(
                conn, case.id, action, actor, self.clock(), note, message=message, **data
            )

    async def _apply(
        self,
        conn: AsyncConnection,
        case_id: int,
        action: str,
        actor: str,
        now: datetime,
        note: str = "",
        *,
        message: str = "",
        **data: Any,
    ) -> Change:
        """One transition, then the flags it may change (links, the citizen's new text)."""
        change = await self.lifecycle.apply(
            conn, case_id, action, actor=actor, now=now, note=note, message=message, **data
        )
        if action in FLAG_INPUTS:
            await self._refresh_group(conn, change.case, now, cause=action)
            change = replace(change, case=await cases.by_id(conn, case_id) or change.case)
        return change

    async def _refresh_group(
        self, conn: AsyncConnection, case: CaseRow, now: datetime, *, cause: str
    ) -> None:
        """Recompute the flags of ``case`` and of every case handled with it."""
        primary = case.linked_to or case.id
        members = [primary, *(c.id for c in await cases.linked_to(conn, primary))]
        await self.registrar.keeper.refresh_all(conn, {case.id, *members}, now, cause=cause)

    async def _find(self, conn: AsyncConnection, tracking_no: str) -> CaseRow:
        parsed = parse_tracking_no(tracking_no)
        if parsed.outcome != "valid":
            raise LifecycleError(f"{tracking_no!r} is not a valid tracking number")
        case = await cases.by_tracking_no(conn, parsed.canonical)
        if case is None:
            raise LifecycleError(f"no case {format_tracking_no(parsed.canonical)}")
        return case

    async def _own_cases(
        self, conn: AsyncConnection, contact_id: int, tracking_no: str, statuses: Sequence[str]
    ) -> list[CaseRow]:
        """The citizen's case named by ``tracking_no`` if it is in ``statuses``, else all
        their cases in ``statuses``, newest first."""
        own = await cases.for_contact(conn, contact_id, limit=50)
        if tracking_no:
            parsed = parse_tracking_no(tracking_no)
            own = [c for c in own if c.tracking_no == parsed.canonical]
        return [c for c in own if c.status in statuses]


LEGAL_STATUSES = ("none", "litigation", "arbitration", "admin_review", "judged")
MAX_PEOPLE = 100_000


def _checked_details(changes: dict[str, Any]) -> dict[str, Any]:
    """The corrections staff may make, validated (raises LifecycleError)."""
    unknown = sorted(set(changes) - {"people_count", "legal_status", "reported_before"})
    if unknown:
        raise LifecycleError(f"cannot correct {unknown[0]!r} here")
    values: dict[str, Any] = {}
    if changes.get("people_count") is not None:
        try:
            people = int(changes["people_count"])
        except (TypeError, ValueError):
            raise LifecycleError("people_count must be a whole number") from None
        if not 1 <= people <= MAX_PEOPLE:
            raise LifecycleError(f"people_count must be from 1 to {MAX_PEOPLE}")
        values["people_count"] = people
    if changes.get("legal_status") is not None:
        if changes["legal_status"] not in LEGAL_STATUSES:
            raise LifecycleError(f"legal_status must be one of {', '.join(LEGAL_STATUSES)}")
        values["legal_status"] = changes["legal_status"]
    if changes.get("reported_before") is not None:
        if changes["reported_before"] not in ("yes", "no"):
            raise LifecycleError("reported_before must be yes or no")
        values["reported_before"] = changes["reported_before"]
    if not values:
        raise LifecycleError("nothing to correct")
    return values
