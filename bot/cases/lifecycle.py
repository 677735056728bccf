"""The case state machine (信访工作条例): transitions as data, each one a single transaction.

Every transition, in the caller's transaction: the case row changes, an event is added to
the case timeline (actor, time, public flag, and two texts that are never confused: the
``message`` the petitioner is told and the internal ``note`` only staff ever see), and a push
to the petitioner is written to the outbox (their channel, their language). Cases linked
to a primary case share its handling: a transition on any case of the group is applied to
the primary and mirrored on every linked case, each with its own event and its own push.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.case_links import CaseLinks
from bot.cases.authority import close_refusal, extension_refusal
from bot.cases.calendar import Calendar
from bot.cases.clocks import ClockRule, Clocks, due_at
from bot.cases.documents import DocumentIssuer, Issued
from bot.clock import utc_now
from bot.dialogs.case_choices import answered_choices
from bot.dialogs.texts import Texts
from bot.domain.arrival import PAPER
from bot.domain.statuses import (
    ACTIONS,
    OPEN_STATUSES,
    OUTCOMES,
    RATINGS,
    REMEDY_WINDOW,
    REVIEWING,
    TRANSITIONS,
    LifecycleError,
    TransitionError,
)
from bot.domain.tracking import format_tracking_no
from bot.messages import Address, Choice, Reply
from bot.storage import cases, contacts, outbox
from bot.storage.cases import CaseRow, Opinion

MAX_TEXT = 20_000
MAX_COMMENT = 1_000
OPINION_CHARS = 300  # of an opinion in a status answer
MAX_MESSAGE = 2_000  # what staff tell the petitioner with an action (as a staff reply)
FOLLOWUP = "followup"  # outbox kind of the 回访 follow-up, scheduled after an answer
ANSWERS = ("answer", "decide_review", "decide_recheck")  # each schedules a follow-up
# the written opinion each answer produces: 处理意见, 复查意见, 复核意见
OPINION_STAGE = {"answer": "answer", "decide_review": "review", "decide_recheck": "recheck"}
REOPENS = ("request_review", "request_recheck")  # each cancels the pending follow-up
# the decision that leads to an answered status (its document is the one a joining
# petitioner gets)
DECIDED_BY = {TRANSITIONS[a].target: a for a in ANSWERS}
# the office's current deadline, by status: what it is the deadline of
_DEADLINE_OF = {
    "submitted": "acceptance",
    "transferred": "acceptance",
    "accepted": "answer",
    "assigned": "answer",
    "in_progress": "answer",
    "extended": "answer",
    "review_requested": "review",
    "recheck_requested": "recheck",
}


class Enqueue(Protocol):
    """The outbox writer (bot.storage.outbox.enqueue)."""

    def __call__(
        self,
        conn: AsyncConnection,
        *,
        contact_id: int,
        address: Address,
        reply: Reply,
        now: datetime,
        kind: str = ...,
        case_id: int | None = ...,
        template: dict[str, Any] | None = ...,
    ) -> Awaitable[int]: ...


@dataclass(frozen=True, slots=True)
class Change:
    """What one transition did to the case it was asked for."""

    case: CaseRow  # the case after the transition
    action: str
    pushes: int  # outbox rows written (the whole linked group)
    group: tuple[str, ...] = ()  # tracking numbers of every case the transition touched


def _no_department(code: str, _lang: str) -> str:
    return code


@dataclass
class Lifecycle:
    """The state machine with its clocks, calendar and texts."""

    clocks: Clocks
    calendar: Calendar
    texts: Texts
    tz: ZoneInfo
    department_name: Callable[[str, str], str] = _no_department  # (code, lang) -> name
    department_known: Callable[[str], bool] = field(default=lambda _code: True)
    enqueue: Enqueue = outbox.enqueue
    links: CaseLinks | None = None  # signed links to the citizen's case page (None: off)
    documents: DocumentIssuer | None = None  # the written notices actions issue (None: off)

    def due(self, start: datetime, rule: ClockRule) -> datetime:
        """The deadline of ``rule`` counted from ``start``."""
        return due_at(start, rule, self.calendar, self.tz)

    async def apply(
        self,
        conn: AsyncConnection,
        case_id: int,
        action: str,
        *,
        actor: str,
        now: datetime,
        note: str = "",
        message: str = "",
        **data: Any,
    ) -> Change:
        """Perform ``action`` on a case, in the caller's transaction; raises LifecycleError.

        ``message`` (告知内容) goes to the petitioner with the push and in their status
        answers; ``note`` is internal and never leaves the staff side.
        """
        rule = TRANSITIONS.get(action)
        if rule is None:
            raise LifecycleError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        if not actor.strip():
            raise LifecycleError("every transition needs an actor")
        case = await self._load(conn, case_id)
        if rule.shared and case.linked_to is not None:
            case = await self._load(conn, case.linked_to)  # the group is handled on its primary
        if case.status not in rule.sources:
            raise TransitionError(case.tracking_no, case.status, action)
        note = note.strip()[:MAX_TEXT]
        message = message.strip()
        if len(message) > MAX_MESSAGE:
            raise LifecycleError(
                f"message is too long ({len(message)} > {MAX_MESSAGE} characters)",
                "too_long",
                field="message",
                limit=MAX_MESSAGE,
            )
        if action == "note":
            return await self._note(
                conn, case, actor, now, note, str(data.get("co_department") or "")
            )
        if action == "reply":
            return await self._reply(conn, case, actor, now, note, message)
        if action == "rate":
            return await self._rate(conn, case, actor, now, note, data)
        if action == "link":
            return await self._link(conn, case, actor, now, note, message, data)
        if action == "withdraw":
            return await self._withdraw(conn, case, actor, now, note, data)
        values, params, event_data = self._plan(case, action, now, data)
        assert rule.target is not None
        values["status"] = rule.target
        if rule.shared:
            group = [case, *await cases.linked_to(conn, case.id)]
        else:
            await self._leave_group(conn, case, now)
            group = [case]
        if action in ANSWERS or action in REOPENS:
            # a new answer replaces the earlier follow-up; a review request cancels it
            await outbox.cancel_scheduled(conn, [m.id for m in group], FOLLOWUP, now)
        pushes = 0
        told: set[int] = set()  # one push per citizen per event, however many cases they have
        for member in group:
            await cases.update_case(conn, member.id, now, **values)
            extra = {} if member.id == case.id else {"via": case.tracking_no}
            event_id = await cases.add_event(
                conn,
                member.id,
                at=now,
                actor=actor,
                kind=action,
                note=note,
                message=message,
                public=rule.public,
                data={**event_data, **extra} or None,
            )
            # the written notice the action requires (受理告知书 … 复核意见书), if any
            document = await self._issue(
                conn, member, action, actor, now, params, message, data, event_id
            )
            # a citizen's own review request is acknowledged in their conversation
            told_already = action in REOPENS and actor == "citizen"
            told_already = told_already or member.contact_id in told
            if (rule.push is not None or message) and not told_already:
                told.add(member.contact_id)
                pushes += await self._push(
                    conn,
                    member,
                    rule.push,
                    now,
                    params,
                    message,
                    event_id=event_id,
                    document=document,
                )
            if action in ANSWERS:
                await cases.add_opinion(
                    conn,
                    member.id,
                    stage=OPINION_STAGE[action],
                    outcome=str(params["outcome"]),
                    text=str(params["text"]),
                    decided_by=actor,
                    department=_deciding_department(data, case),
                    at=now,
                )
                if told_already:
                    continue  # the citizen's follow-up is about their case already told
                until = params.get("until")
                await self._schedule_followup(conn, member, action, now, until, event_id)
        after = await self._load(conn, case_id)
        return Change(after, action, pushes, tuple(m.tracking_no for m in group))

    # ------------------------------------------------------------------ validation + clocks

    def _plan(
        self, case: CaseRow, action: str, now: datetime, data: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(column values, push parameters, event data) for a status-changing action."""
        c = self.clocks
        values: dict[str, Any]
        until: datetime | None
        if action == "accept":
            answer_due = self.due(now, c.answer)
            values = {"accepted_at": now, "answer_due_at": answer_due, "due_at": answer_due}
            return values, {"date": answer_due}, {"due_at": answer_due.isoformat()}
        if action == "reject":
            reason = _required(data, "reason")
            channel = _required(data, "channel")
            values = {"due_at": None}
            return (
                values,
                {"reason": reason, "channel": channel},
                {"reason": reason, "channel": channel},
            )
        if action == "transfer":
            to = _required(data, "to")[:100]
            values = {"transferred_to": to, "due_at": self.due(now, c.acceptance)}
            return values, {"to": to}, {"to": to}
        if action == "assign":
            department = _required(data, "department")
            co = [str(d).strip() for d in data.get("co_departments") or () if str(d).strip()]
            for code in (department, *co):
                if not self.department_known(code):
                    raise LifecycleError(
                        f"unknown department {code!r}", "unknown_department", department=code
                    )
            co = [d for d in dict.fromkeys(co) if d != department]
            values = {"department": department, "co_departments": co}
            if case.handler and department != case.department:
                values["handler"] = ""  # a named handler belongs to the lead department
            if case.accepted_at is None:  # assigned straight after a transfer: accepted now
                answer_due = self.due(now, c.answer)
                values.update(accepted_at=now, answer_due_at=answer_due, due_at=answer_due)
            deadline = values.get("answer_due_at", case.answer_due_at)
            params = {"department": department, "co_departments": co, "date": deadline}
            assigned: dict[str, Any] = {"department": department, "co_departments": co}
            if deadline is not None:
                assigned["due_at"] = deadline.isoformat()
            return values, params, assigned
        if action == "start":
            return {}, {}, {}
        if action == "extend":
            reason = _required(data, "reason")
            days = _int(data.get("days"), "days")
            if not 1 <= days <= c.extension_max_days:
                raise LifecycleError(
                    f"an extension is 1 to {c.extension_max_days} days, not {days}",
                    "extension_days",
                    limit=c.extension_max_days,
                )
            base = case.answer_due_at or self.due(case.accepted_at or now, c.answer)
            refused = extension_refusal(case, now, c.extensions_allowed, base)
            if refused == "extension_used":
                raise LifecycleError(
                    f"case {format_tracking_no(case.tracking_no)} already has "
                    f"{case.extensions} extension(s); {c.extensions_allowed} allowed",
                    refused,
                )
            if refused == "extension_late":
                raise LifecycleError(
                    f"case {format_tracking_no(case.tracking_no)}: an extension is asked "
                    f"before the deadline ({self._date(base)}), not after it",
                    refused,
                )
            new_due = self.due(base, ClockRule(days, c.answer.working_days))
            values = {
                "answer_due_at": new_due,
                "due_at": new_due,
                "extensions": case.extensions + 1,
            }
            event = {"reason": reason, "days": days, "due_at": new_due.isoformat()}
            return values, {"reason": reason, "date": new_due}, event
        if action in ("answer", "decide_review", "decide_recheck"):
            text = _required(data, "text", MAX_TEXT)
            outcome = str(data.get("outcome") or "")
            if outcome not in OUTCOMES:
                raise LifecycleError(
                    f"outcome must be one of {', '.join(OUTCOMES)}", "invalid", field="outcome"
                )
            values = {"answer_text": text, "answer_outcome": outcome, "due_at": None}
            if action == "answer":
                until = self.due(now, c.review_request)
                values.update(answered_at=now, request_until=until)
            elif action == "decide_review":
                until = self.due(now, c.recheck_request)
                values.update(request_until=until)
            else:
                until = now
                values.update(request_until=None)  # 复核 is final: no further remedy
            params = {"text": text, "outcome": outcome, "until": until}
            return values, params, {"outcome": outcome}
        if action in ("request_review", "request_recheck"):
            until = case.request_until
            if until is None or now > until:
                closed = until.astimezone(self.tz).date().isoformat() if until else "-"
                raise LifecycleError(
                    f"case {format_tracking_no(case.tracking_no)}: the window to ask for "
                    f"{'复查' if action == 'request_review' else '复核'} closed on {closed}",
                    "window_closed",
                    date=closed,
                )
            rule = c.review_decision if action == "request_review" else c.recheck_decision
            decision_due = self.due(now, rule)
            values = {"due_at": decision_due, "request_until": None}
            reason = str(data.get("reason") or "").strip()[:MAX_COMMENT]
            requested = {"due_at": decision_due.isoformat()}
            if reason:
                requested["reason"] = reason
            return values, {"date": decision_due}, requested
        if action == "close":
            open_until = case.request_until
            if close_refusal(case, now) and open_until is not None:
                raise LifecycleError(
                    f"case {format_tracking_no(case.tracking_no)} cannot be closed before "
                    f"{self._date(open_until)}: the petitioner may still ask for "
                    f"{'复查' if case.status == 'answered' else '复核'}",
                    "close_too_early",
                    date=self._date(open_until),
                )
            return {"closed_at": now, "due_at": None, "request_until": None}, {}, {}
        raise LifecycleError(f"action {action!r} has no plan")  # unreachable: table is closed

    # ------------------------------------------------------------------ no status change

    async def _note(
        self,
        conn: AsyncConnection,
        case: CaseRow,
        actor: str,
        now: datetime,
        note: str,
        co_department: str = "",
    ) -> Change:
        """An internal note: staff only, never pushed nor shown to the petitioner; from a
        co-handling department, that department's 协办意见 to the lead."""
        if not note:
            raise LifecycleError("a note needs text", "required", field="note_text")
        data = {"co_department": co_department} if co_department else None
        await cases.add_event(
            conn, case.id, at=now, actor=actor, kind="note", note=note, public=False, data=data
        )
        return Change(case, "note", 0, (case.tracking_no,))

    async def _reply(
        self,
        conn: AsyncConnection,
        case: CaseRow,
        actor: str,
        now: datetime,
        note: str,
        message: str,
    ) -> Change:
        """A message from staff to the petitioner: pushed and shown in their status."""
        if not message:
            raise LifecycleError("message is required", "required", field="reply_text")
        event_id = await cases.add_event(
            conn, case.id, at=now, actor=actor, kind="reply", note=note, message=message
        )
        pushes = await self._push(conn, case, None, now, {}, message, event_id=event_id)
        return Change(case, "reply", pushes, (case.tracking_no,))

    async def _withdraw(
        self,
        conn: AsyncConnection,
        case: CaseRow,
        actor: str,
        now: datetime,
        note: str,
        data: Mapping[str, Any],
    ) -> Change:
        """撤回 of one petitioner's case; cases linked under it are handled on without it."""
        reason = str(data.get("reason") or "").strip()[:MAX_COMMENT]
        await self._leave_group(conn, case, now)  # the others keep their handling
        await cases.update_case(conn, case.id, now, status="withdrawn", due_at=None, closed_at=now)
        await outbox.cancel_scheduled(conn, [case.id], FOLLOWUP, now)
        await cases.add_event(
            conn,
            case.id,
            at=now,
            actor=actor,
            kind="withdraw",
            note=note,
            data={"reason": reason} if reason else None,
        )
        return Change(await self._load(conn, case.id), "withdraw", 0, (case.tracking_no,))

    async def _rate(
        self,
        conn: AsyncConnection,
        case: CaseRow,
        actor: str,
        now: datetime,
        note: str,
        data: Mapping[str, Any],
    ) -> Change:
        rating = str(data.get("rating") or "")
        if rating not in RATINGS:
            raise LifecycleError(
                f"rating must be one of {', '.join(RATINGS)}", "invalid", field="rating"
            )
        comment = str(data.get("comment") or note).strip()[:MAX_COMMENT]
        await cases.update_case(
            conn, case.id, now, rating=rating, rating_comment=comment, rated_at=now
        )
        # the rating answers what the 回访 would have asked: it is not sent
        await outbox.cancel_scheduled(conn, [case.id], FOLLOWUP, now)
        await cases.add_event(
            conn,
            case.id,
            at=now,
            actor=actor,
            kind="rate",
            note=comment,
            public=True,
            data={"rating": rating},
        )
        return Change(await self._load(conn, case.id), "rate", 0, (case.tracking_no,))

    async def _link(
        self,
        conn: AsyncConnection,
        case: CaseRow,
        actor: str,
        now: datetime,
        note: str,
        message: str,
        data: Mapping[str, Any],
    ) -> Change:
        """Link ``case`` (and cases linked to it) under a primary case: one handling."""
        primary_id = data.get("primary_id")
        if not isinstance(primary_id, int):
            raise LifecycleError("link needs the primary case", "required", field="primary")
        primary = await self._load(conn, primary_id)
        if primary.linked_to is not None:
            primary = await self._load(conn, primary.linked_to)
        if primary.id == case.id or case.linked_to == primary.id:
            raise LifecycleError(
                f"case {format_tracking_no(case.tracking_no)} is already handled with "
                f"{format_tracking_no(primary.tracking_no)}",
                "already_linked",
                primary=format_tracking_no(primary.tracking_no),
            )
        if primary.status not in OPEN_STATUSES or primary.status in REVIEWING:
            raise TransitionError(primary.tracking_no, primary.status, "link")
        members = [case, *await cases.linked_to(conn, case.id)]
        shared = {
            "status": primary.status,
            "department": primary.department,
            "co_departments": list(primary.co_departments),
            "transferred_to": primary.transferred_to,
            "accepted_at": primary.accepted_at,
            "answer_due_at": primary.answer_due_at,
            "due_at": primary.due_at,
            "extensions": primary.extensions,
        }
        params = {"primary": format_tracking_no(primary.tracking_no)}
        # joining an answered matter: the new petitioner gets its opinions and, from the day
        # they are told, their own window to ask for 复查/复核
        answered = primary.status in REMEDY_WINDOW
        opinions = await cases.opinions(conn, primary.id) if answered else []
        opinion: dict[str, Any] = {}
        if answered:
            window = REMEDY_WINDOW[primary.status]
            until = self.due(now, getattr(self.clocks, window)) if window else None
            shared.update(
                answer_text=primary.answer_text,
                answer_outcome=primary.answer_outcome,
                answered_at=now,
                request_until=until,
            )
            opinion = {"text": primary.answer_text, "outcome": primary.answer_outcome}
            opinion["until"] = until or now
        pushes = 0
        told: set[int] = set()
        for member in members:
            await cases.update_case(conn, member.id, now, linked_to=primary.id, **shared)
            await cases.put_link(conn, member.id, primary.id, kind="linked", score=1.0, now=now)
            for kept in opinions:
                await cases.add_opinion(
                    conn,
                    member.id,
                    stage=kept.stage,
                    outcome=kept.outcome,
                    text=kept.text,
                    decided_by=kept.decided_by,
                    department=kept.department,
                    at=kept.decided_at,
                )
            event_id = await cases.add_event(
                conn,
                member.id,
                at=now,
                actor=actor,
                kind="link",
                note=note,
                message=message,
                public=True,
                data={"primary": primary.tracking_no},
            )
            # joining an answered matter: the latest opinion as this petitioner's own document
            document = None
            if answered:
                decided = {"by_department": opinions[-1].department} if opinions else {}
                decision = DECIDED_BY[primary.status]
                document = await self._issue(
                    conn, member, decision, actor, now, opinion, "", decided, event_id
                )
            if member.contact_id in told:
                continue  # one push per citizen, however many of their cases join
            told.add(member.contact_id)
            pushes += await self._push(
                conn, member, "push.linked", now, params, message, event_id=event_id
            )
            if answered:
                key = f"push.{primary.status}"
                pushes += await self._push(
                    conn, member, key, now, opinion, event_id=event_id, document=document
                )
        await cases.add_event(
            conn,
            primary.id,
            at=now,
            actor=actor,
            kind="link",
            note=note,
            public=False,
            data={"linked": [m.tracking_no for m in members]},
        )
        after = await self._load(conn, case.id)
        return Change(after, "link", pushes, tuple(m.tracking_no for m in members))

    # ------------------------------------------------------------------ helpers

    async def _leave_group(self, conn: AsyncConnection, case: CaseRow, now: datetime) -> None:
        """Take ``case`` out of its linked group (for this petitioner's own remedy or
        withdrawal); when it was the primary, the next case carries the group's handling."""
        if case.linked_to is not None:
            await cases.update_case(conn, case.id, now, linked_to=None)
            return
        members = await cases.linked_to(conn, case.id)
        if members:
            heir, *rest = members
            await cases.update_case(conn, heir.id, now, linked_to=None)
            for member in rest:
                await cases.update_case(conn, member.id, now, linked_to=heir.id)

    async def _load(self, conn: AsyncConnection, case_id: int) -> CaseRow:
        case = await cases.by_id(conn, case_id, lock=True)
        if case is None:
            raise LifecycleError(f"no case with id {case_id}")
        return case

    def _date(self, when: datetime) -> str:
        return when.astimezone(self.tz).date().isoformat()

    async def _issue(
        self,
        conn: AsyncConnection,
        case: CaseRow,
        action: str,
        actor: str,
        now: datetime,
        params: Mapping[str, Any],
        message: str,
        data: Mapping[str, Any],
        event_id: int,
    ) -> Issued | None:
        """Issue the document ``action`` requires for ``case`` (see bot.cases.documents);
        it is given what the petitioner is told, never the internal note."""
        if self.documents is None:
            return None
        return await self.documents.issue(
            conn,
            case,
            action,
            actor=actor,
            now=now,
            params=params,
            message=message,
            department=_deciding_department(data, case),
            event_id=event_id,
        )

    async def _push(
        self,
        conn: AsyncConnection,
        case: CaseRow,
        key: str | None,
        now: datetime,
        params: Mapping[str, Any],
        message: str = "",
        *,
        event_id: int,
        document: Issued | None = None,
    ) -> int:
        """Write one push for ``case``'s petitioner, in their language; returns 1.

        The push is the action's text (``key``), followed by what staff wrote for the
        petitioner (``message``); an action without a push of its own sends the message
        alone, as a staff reply. ``event_id``: the timeline event the push tells of (its
        delivery state is shown there).
        """
        contact = await contacts.get(conn, case.contact_id)
        lang = contact.lang if contact.lang in self.texts.by_lang else "zh"
        values = self._format(case, lang, params)
        if key is None:
            key = "push.staff_reply"
            text = self.texts.get(lang, key, text=message, **values)
        else:
            text = self.texts.get(lang, key, **values)
            if message:
                text = self.texts.get(lang, "push.with_message", push=text, message=message)
        url = self.case_url(case, now)
        if url:
            text = "\n".join((text, self.texts.get(lang, "push.details_link", url=url)))
        if document is not None and url:
            assert self.links is not None  # url is only set when links are on
            link = self.links.document_url(case.contact_id, case.tracking_no, document.id, now)
            line = self.texts.get(
                lang, "document.link", title=document.title, number=document.number, url=link
            )
            text = "\n".join((text, line))
        await self.enqueue(
            conn,
            contact_id=contact.id,
            address=contact.address,
            reply=Reply(
                text, choices=_push_choices(self.texts, lang, key, case), buttons_only=True
            ),
            now=now,
            kind="push",
            case_id=case.id,
            template={
                "key": key,
                "tracking_no": case.tracking_no,
                "event_id": event_id,
                "at": now.isoformat(),  # the notice's time, shown by a WeChat template
                "url": url,  # the case page, linked from a WeChat template message
                "due": _due_of(params),  # the deadline this notice names (an SMS variable)
            },
        )
        return 1

    def case_url(self, case: CaseRow, now: datetime) -> str:
        """The signed link to the case page for ``case``'s petitioner ("" when links are
        off): every case-status push and the owner's status answer carry it."""
        if self.links is None or not self.links.enabled:
            return ""
        return self.links.url(case.contact_id, case.tracking_no, now)

    def details_link(self, case: CaseRow, lang: str, now: datetime) -> tuple[str, ...]:
        """The line "查看详情：<signed link>" for the petitioner's status answer, if any."""
        url = self.case_url(case, now)
        return (self.texts.get(lang, "push.details_link", url=url),) if url else ()

    def describe(self, event: Any, case: CaseRow, lang: str) -> str:
        """A timeline event as the petitioner reads it in a status answer, dated.

        Only the event's kind, its data and its ``message`` are used: the internal note
        is never read here.
        """
        lang = lang if lang in self.texts.by_lang else "zh"
        kind = str(event.kind)
        data: Mapping[str, Any] = event.data or {}
        message = str(event.message or "").strip()
        if not self.texts.has(f"progress.{kind}"):
            text = message or self.texts.get(lang, f"status.{case.status}")
        elif kind in ("note", "reply"):
            text = self.texts.get(lang, f"progress.{kind}", message=message)
        else:
            params: dict[str, Any] = {}
            if kind in ("accept", "assign", "extend", "request_review", "request_recheck"):
                fallback = case.due_at if kind.startswith("request_") else case.answer_due_at
                raw = data.get("due_at")
                due = datetime.fromisoformat(raw) if isinstance(raw, str) else fallback
                params["due"] = due if due is not None else "-"
            if kind == "assign":
                params["department"] = data.get("department") or case.department
                params["co_departments"] = data.get("co_departments") or ()
            for name in ("reason", "channel", "to", "outcome"):
                if name in data:
                    params[name] = data[name]
            if kind == "link":
                params["primary"] = format_tracking_no(str(data.get("primary") or ""))
            values = self._format(case, lang, params)
            text = self.texts.get(lang, f"progress.{kind}", **values)
            if message:
                text = self.texts.get(lang, "progress.with_message", event=text, message=message)
        return self.texts.get(lang, "progress.line", date=self._date(event.at), event=text)

    def status_details(
        self, case: CaseRow, lang: str, *, owner: bool, opinions: Sequence[Opinion] = ()
    ) -> tuple[str, ...]:
        """What a status answer says beyond the latest event: who handles the case, the
        office's current deadline named as what it is (受理期限, 办理期限, 复查期限, …),
        and for the petitioner every written opinion, in order, and their own remedy."""
        lang = lang if lang in self.texts.by_lang else "zh"
        lines = []
        if case.department and case.status not in ("submitted", "transferred", "rejected"):
            name = self.department_name(case.department, lang)
            lines.append(self.texts.get(lang, "lookup.department", department=name))
        clock = _DEADLINE_OF.get(case.status)
        if clock and case.due_at is not None:
            lines.append(self.texts.get(lang, f"lookup.due_{clock}", date=self._date(case.due_at)))
        if owner:
            for i, opinion in enumerate(opinions):
                # the latest opinion at length; earlier ones shortened (the case page has all)
                limit = OPINION_CHARS if i == len(opinions) - 1 else OPINION_CHARS // 3
                text = opinion.text if len(opinion.text) <= limit else opinion.text[:limit] + "…"
                line = self.texts.get(
                    lang,
                    "lookup.opinion",
                    stage=self.texts.get(lang, f"opinion.{opinion.stage}"),
                    date=self._date(opinion.decided_at),
                    outcome=self.texts.get(lang, f"outcome.{opinion.outcome}")
                    if opinion.outcome in OUTCOMES
                    else "-",
                    text=text,
                )
                lines.append(line)
        remedy = {"answered": "review", "reviewed": "recheck"}.get(case.status)
        if owner and remedy and case.request_until is not None:
            until = self._date(case.request_until)
            lines.append(self.texts.get(lang, f"lookup.remedy_{remedy}", until=until))
        if owner:
            lines.extend(self.details_link(case, lang, utc_now()))
        return tuple(lines)

    def followup_at(self, now: datetime) -> datetime | None:
        """When the 回访 for an answer given at ``now`` goes out (None: follow-ups are off)."""
        days = self.clocks.followup_days
        if days <= 0:
            return None
        day = now.astimezone(self.tz).date() + timedelta(days=days)
        return datetime.combine(day, time(self.clocks.followup_hour), tzinfo=self.tz)

    async def _schedule_followup(
        self,
        conn: AsyncConnection,
        case: CaseRow,
        action: str,
        now: datetime,
        until: datetime | None,
        event_id: int,
    ) -> None:
        """Schedule the 回访 for ``case``'s petitioner, in their language, through the outbox
        (shown on the answer's timeline event ``event_id``)."""
        at = self.followup_at(now)
        if at is None:
            return
        contact = await contacts.get(conn, case.contact_id)
        if contact.address.channel == PAPER:
            return  # no electronic contact: a 回访 is the office's own call or visit
        lang = contact.lang if contact.lang in self.texts.by_lang else "zh"
        what = self.texts.get(lang, f"followup.what_{action}")
        params = self._format(case, lang, {"date": now})
        lines = [self.texts.get(lang, "followup.ask", what=what, **params)]
        # the remedy is mentioned only while it will still be open when the follow-up arrives
        if action != "decide_recheck" and until is not None and until > at:
            key = "followup.remedy_review" if action == "answer" else "followup.remedy_recheck"
            lines.append(self.texts.get(lang, key, until=self._date(until)))
        await outbox.schedule(
            conn,
            contact_id=contact.id,
            address=contact.address,
            reply=Reply("\n".join(lines)),
            at=at,
            now=now,
            kind=FOLLOWUP,
            case_id=case.id,
            template={"key": "followup.ask", "tracking_no": case.tracking_no, "event_id": event_id},
        )

    def _format(self, case: CaseRow, lang: str, params: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {"number": format_tracking_no(case.tracking_no)}
        for name, value in params.items():
            if isinstance(value, datetime):
                out[name] = self._date(value)
            elif name == "department":
                out[name] = self.department_name(str(value), lang)
            elif name == "co_departments":
                names = [self.department_name(str(v), lang) for v in value]
                out["co"] = (
                    self.texts.get(
                        lang,
                        "push.co_departments",
                        names="、".join(names) if lang == "zh" else ", ".join(names),
                    )
                    if names
                    else ""
                )
            elif name == "outcome":
                out[name] = self.texts.get(lang, f"outcome.{value}")
            else:
                out[name] = str(value)
        return out


def _deciding_department(data: Mapping[str, Any], case: CaseRow) -> str:
    """Who wrote an opinion: the given department ("" is the petition office), else the lead."""
    given = data.get("by_department")
    return case.department if given is None else str(given)


def _required(data: Mapping[str, Any], name: str, limit: int = 2000) -> str:
    value = str(data.get(name) or "").strip()
    if not value:
        raise LifecycleError(f"{name} is required", "required", field=name)
    if len(value) > limit:
        raise LifecycleError(
            f"{name} is too long ({len(value)} > {limit} characters)",
            "too_long",
            field=name,
            limit=limit,
        )
    return value


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise LifecycleError(f"{name} must be a whole number", "invalid", field=name) from None


def _due_of(params: Mapping[str, Any]) -> str:
    """The deadline a notice names (the citizen's window, else the office's), ISO or ""."""
    due = params.get("until") or params.get("date")
    return due.isoformat() if isinstance(due, datetime) else ""


def _push_choices(texts: Texts, lang: str, key: str, case: CaseRow) -> tuple[Choice, ...]:
    """The rating and 复查/复核 buttons of an answer's push (push.answered, push.reviewed)."""
    status = {"push.answered": "answered", "push.reviewed": "reviewed"}.get(key, "")
    return answered_choices(texts, lang, status, case.tracking_no)
