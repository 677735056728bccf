"""The inbound use case: dedupe · lock · load · step the engine · save, group-committed.

This is the only caller of the dialog engine. Replies are either returned for the
request's own response ("direct") or written to the outbox in the same transaction.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.case_lookups import CaseLookups
from bot.cases.registration import StatusWords, create_case, view_for_owner
from bot.cases.service import LifecycleService
from bot.clock import utc_now
from bot.dialogs.engine import EngineConfig, kept_attachment_ids, state_lang, step
from bot.dialogs.prompting import CONTACT_ROLES
from bot.dialogs.types import Effect, Event, Resolution, StepResult
from bot.domain.statuses import OPEN_STATUSES
from bot.keyed_locks import KeyedLocks
from bot.logging import get_logger
from bot.messages import Address, InboundMessage, Reply
from bot.metrics import CASES_SUBMITTED, INBOUND, INBOUND_DUPLICATES, STT_RESULTS
from bot.storage import attachments, cases, contacts, help_requests, inbound, outbox
from bot.storage.contacts import Contact
from bot.storage.db import Database
from bot.storage.files import remove
from bot.transcription import Transcriber

log = get_logger(__name__)

MAX_EFFECTS_PER_MESSAGE = 4  # an engine step resolves at most a lookup then a submit
MAX_BATCH = 128  # messages per group commit


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What became of one inbound message."""

    replies: list[Reply]
    direct: bool  # True: the caller answers with these; False: they are in the outbox
    duplicate: bool = False
    contact_id: int = 0
    inbound_id: int = 0


@dataclass(slots=True)
class _Job:
    """One message waiting for a group commit."""

    msg: InboundMessage
    via_outbox: bool
    direct_deadline: float | None
    done: asyncio.Future[IntakeResult]
    join: Callable[[list[Reply]], list[Reply]] | None = None


@dataclass(slots=True)
class _Step:
    """A message of a batch that is not a duplicate, between load and save."""

    index: int
    job: _Job
    contact: Contact
    inbound_id: int


class Intake:
    """Turns verified inbound messages into conversation steps, cases and replies.

    Group commit: messages that arrive while a transaction is in flight wait in a queue
    and are processed together in the next one, with one statement per kind of row for
    the whole batch and one commit (one fsync) for all of them. Each caller gets its
    result only after that commit, so nothing is acknowledged before it is durable. A
    batch holds at most one message per conversation; if a batch fails, its messages are
    retried one by one, each in its own transaction, so that one bad message fails alone.
    """

    def __init__(
        self,
        db: Database,
        engine: EngineConfig,
        *,
        timezone: str = "Asia/Shanghai",
        clock: Callable[[], datetime] = utc_now,
        lifecycle: LifecycleService | None = None,
        max_batch: int = MAX_BATCH,
        lookups: CaseLookups | None = None,
        attachments_dir: Path | None = None,
        transcriber: Transcriber | None = None,
    ) -> None:
        self.db = db
        self.transcriber = transcriber  # voice the platform did not transcribe (optional)
        self.engine = engine
        self.lifecycle = lifecycle  # registration enrichment, ratings and 复查 requests
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self.max_batch = max_batch
        self.lookups = lookups or CaseLookups()  # status queries, limited in the database
        self.attachments_dir = attachments_dir  # files the dialog did not keep are deleted
        # One in-process lock per conversation keeps concurrent messages of one citizen
        # from queueing on the database lock; the database lock is what guarantees it.
        self._locks = KeyedLocks()
        self._queue: deque[_Job] = deque()
        self._flushers: set[asyncio.Task[None]] = set()  # strong references to running tasks
        self._flushing = 0

    async def handle(
        self,
        msg: InboundMessage,
        *,
        via_outbox: bool = False,
        direct_deadline: float | None = None,
        join: Callable[[list[Reply]], list[Reply]] | None = None,
    ) -> IntakeResult:
        """Process one message exactly once; returns after its transaction committed.

        ``via_outbox``: the channel cannot answer in the request (Telegram webhook);
        ``direct_deadline``: event-loop time after which replies go to the outbox instead
        (WeChat's 5-second rule); ``join``: how replies that go to the outbox are made
        into messages (WeChat: one per turn). A duplicate gets the replies recorded the
        first time.
        """
        msg = await self._transcribed(_without_nul(msg))
        async with self._locks(msg.address):
            job = _Job(
                msg, via_outbox, direct_deadline, asyncio.get_running_loop().create_future(), join
            )
            self._queue.append(job)
            if self._flushing < self.db.max_writers:
                self._flushing += 1  # given back by _flush itself, in the same loop step
                task = asyncio.create_task(self._flush(), name="intake-commit")
                self._flushers.add(task)
                task.add_done_callback(self._flushers.discard)
            # a cancelled caller cancels only its wait: the batch commits all the same
            return await job.done

    async def _transcribed(self, msg: InboundMessage) -> InboundMessage:
        """A voice message with the speech-to-text service's words as its recognition,
        when the platform gave none (outside any transaction: it is an HTTP call)."""
        att = msg.attachment
        if (
            self.transcriber is None
            or self.attachments_dir is None
            or att is None
            or att.kind != "voice"
            or att.recognition
            or not att.media_ref
            or ":" in att.media_ref  # a platform reference: the file is not here (yet)
        ):
            return msg
        path = (self.attachments_dir / att.media_ref).resolve()
        if self.attachments_dir.resolve() not in path.parents:
            return msg
        text = await self.transcriber.transcribe(path, att.mime, msg.lang_hint[:2])
        STT_RESULTS.labels("ok" if text else "failed").inc()
        return replace(msg, attachment=replace(att, recognition=text)) if text else msg

    async def _flush(self) -> None:
        """Commit batches until the queue is empty."""
        try:
            while self._queue:
                await self._commit(self._take())
        finally:
            # no await between the empty check and this: a job queued from now on
            # sees the free slot and starts a flusher
            self._flushing -= 1

    def _take(self) -> list[_Job]:
        """The next batch: oldest first, one message per conversation, at most max_batch."""
        batch: list[_Job] = []
        seen: set[Address] = set()
        skipped: list[_Job] = []
        while self._queue and len(batch) < self.max_batch:
            job = self._queue.popleft()
            if job.msg.address in seen:
                skipped.append(job)  # a later message of the same chat: next batch
            else:
                seen.add(job.msg.address)
                batch.append(job)
        self._queue.extendleft(reversed(skipped))
        return batch

    async def _commit(self, batch: list[_Job]) -> None:
        discarded: list[str] = []
        try:
            async with self.db.transaction() as conn:
                results = await self._handle_batch(conn, batch, discarded)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], exc)
                return
            log.warning("intake.batch_failed", size=len(batch), error=type(exc).__name__)
            for job in batch:  # isolate the failure: each message in its own transaction
                await self._commit([job])
            return
        if self.attachments_dir is not None:  # their rows are gone: now the files
            for key in discarded:
                remove(self.attachments_dir, key)
        for job, result in zip(batch, results, strict=True):
            INBOUND.labels(job.msg.address.channel).inc()
            if result.duplicate:
                INBOUND_DUPLICATES.labels(job.msg.address.channel).inc()
            _settle(job, result)

    async def _handle_batch(
        self, conn: AsyncConnection, jobs: list[_Job], discarded: list[str]
    ) -> list[IntakeResult]:
        now = self.clock()
        found = await contacts.get_or_create_many(conn, [j.msg.address for j in jobs], now)
        ids = await inbound.record_many(
            conn,
            [
                {
                    "channel": j.msg.address.channel,
                    "external_id": j.msg.external_id,
                    "contact_id": found[j.msg.address].id,
                    "received_at": now,
                    "text": j.msg.text,
                    "meta": _meta(j.msg),
                }
                for j in jobs
            ],
        )
        results: list[IntakeResult | None] = [None] * len(jobs)
        steps: list[_Step] = []
        for index, job in enumerate(jobs):
            msg, contact = job.msg, found[job.msg.address]
            inbound_id = ids.get((msg.address.channel, msg.external_id))
            if inbound_id is None:
                results[index] = await self._duplicate(conn, msg, contact)
            elif msg.event == "unsubscribe":
                await contacts.update_contact(conn, contact.id, reachable=False)
                await inbound.save_replies(conn, inbound_id, [], "direct")
                results[index] = IntakeResult(
                    [], direct=True, contact_id=contact.id, inbound_id=inbound_id
                )
            else:
                steps.append(_Step(index, job, contact, inbound_id))
        if steps:
            await self._step_all(conn, steps, results, now, discarded)
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    async def _duplicate(
        self, conn: AsyncConnection, msg: InboundMessage, contact: Contact
    ) -> IntakeResult:
        stored = await inbound.stored_replies(conn, msg.address.channel, msg.external_id)
        log.info("inbound.duplicate", channel=msg.address.channel, address=msg.address)
        if stored is None or stored.mode == "outbox":
            return IntakeResult([], direct=False, duplicate=True, contact_id=contact.id)
        return IntakeResult(
            stored.replies,
            direct=True,
            duplicate=True,
            contact_id=contact.id,
            inbound_id=stored.inbound_id,
        )

    async def _step_all(
        self,
        conn: AsyncConnection,
        steps: list[_Step],
        results: list[IntakeResult | None],
        now: datetime,
        discarded: list[str],
    ) -> None:
        """Load every conversation, step the engine for each message, save all at once.

        A file the dialog did not keep (no draft, a full draft, no open case to add it to)
        is deleted again: its row here, its file after the commit (``discarded``).
        """
        await contacts.touch_many(conn, [s.contact for s in steps], now)
        states = await contacts.lock_states(conn, [s.contact.id for s in steps], now)
        local_now = now.astimezone(self.tz)
        saves: list[tuple[int, dict[str, Any], int]] = []
        queued: list[outbox.NewMessage] = []
        answered: list[tuple[int, list[Reply], str]] = []
        loop_time = asyncio.get_running_loop().time
        for s in steps:
            contact, msg = s.contact, s.job.msg
            event, att_id = await self._event(conn, contact, msg, now)
            state, version = states[contact.id]
            result = step(self.engine, state, event, local_now)
            replies = list(result.replies)
            for _ in range(MAX_EFFECTS_PER_MESSAGE):
                if result.effect is None:
                    break
                resolution = await self._resolve(conn, contact, msg, result.effect, now)
                result = step(self.engine, result.state, _resolved(resolution), local_now)
                replies.extend(result.replies)
            else:
                _check_settled(result)
            if att_id is not None and str(att_id) not in kept_attachment_ids(result.state):
                key = await attachments.discard(conn, att_id)  # None: linked to a case
                if key is not None:
                    discarded.append(key)
            saves.append((contact.id, result.state, version))
            lang = state_lang(result.state)
            if lang != contact.lang:
                await contacts.update_contact(conn, contact.id, lang=lang)
            deadline = s.job.direct_deadline
            if s.job.via_outbox or (deadline is not None and loop_time() > deadline):
                queued.extend(
                    outbox.NewMessage(contact.id, msg.address, reply, kind="reply")
                    for reply in (s.job.join(replies) if s.job.join else replies)
                )
                answered.append((s.inbound_id, replies, "outbox"))
                direct = False
            else:
                answered.append((s.inbound_id, replies, "direct"))
                direct = True
            results[s.index] = IntakeResult(
                replies, direct=direct, contact_id=contact.id, inbound_id=s.inbound_id
            )
        await contacts.save_states(conn, saves, now)
        await outbox.enqueue_many(conn, queued, now)
        await inbound.save_replies_many(conn, answered)

    async def _event(
        self, conn: AsyncConnection, contact: Contact, msg: InboundMessage, now: datetime
    ) -> tuple[Event, int | None]:
        if msg.attachment is not None:
            att_id = await attachments.add(
                conn,
                contact_id=contact.id,
                kind=msg.attachment.kind,
                media_ref=msg.attachment.media_ref,
                now=now,
                mime=msg.attachment.mime,
                filename=msg.attachment.filename,
                size=msg.attachment.size,
            )
            # the engine keeps only our attachment id; the platform reference stays here
            event = Event(
                kind="attachment",
                attachment=replace(msg.attachment, media_ref=str(att_id)),
                text=msg.text,  # a caption (Telegram): the citizen's words with the file
                lang_hint=msg.lang_hint,
            )
            return event, att_id
        if msg.location is not None:
            return Event(kind="location", location=msg.location, lang_hint=msg.lang_hint), None
        if msg.command or msg.event == "subscribe":
            event = Event(
                kind="command",
                command=msg.command or "start",
                command_arg=msg.command_arg,
                lang_hint=msg.lang_hint,
                preselect=msg.preselect,
            )
            return event, None
        return Event(kind="text", text=msg.text, tap=msg.tap, lang_hint=msg.lang_hint), None

    async def _resolve(
        self,
        conn: AsyncConnection,
        contact: Contact,
        msg: InboundMessage,
        effect: Effect,
        now: datetime,
    ) -> Resolution:
        if effect.kind == "lookup_case":
            progress = self._progress(contact)
            return await self.lookups.resolve(conn, contact, msg, effect, now, progress)
        resolver = {
            "submit": self._submit,
            "rate": self._citizen_action,
            "request_review": self._citizen_action,
            "withdraw": self._citizen_action,
            "broadcast_opt": self._broadcast_opt,
            "list_cases": self._list_cases,
            "last_contact": self._last_contact,
            "add_material": self._add_material,
            "ask_human": self._ask_human,
        }[effect.kind]
        return await resolver(conn, contact, effect, now)

    async def _submit(
        self, conn: AsyncConnection, contact: Contact, effect: Effect, now: datetime
    ) -> Resolution:
        """A confirmed petition becomes a case."""
        assert effect.submission is not None
        enrich = self.lifecycle.registrar.enrich if self.lifecycle else None
        tracking_no = await create_case(
            conn, contact=contact, submission=effect.submission, now=now, enrich=enrich
        )
        CASES_SUBMITTED.labels(contact.address.channel).inc()
        log.info("case.submitted", channel=contact.address.channel, tracking_no=tracking_no)
        return Resolution(effect="submit", tracking_no=tracking_no)

    async def _add_material(
        self, conn: AsyncConnection, contact: Contact, effect: Effect, now: datetime
    ) -> Resolution:
        """A file sent outside a form: added to the open case the citizen picked, else the
        open cases it could be added to (the file waits unlinked until they pick)."""
        own = [c for c in await cases.for_contact(conn, contact.id) if c.status in OPEN_STATUSES]
        if effect.tracking_no:
            own = [c for c in own if c.tracking_no == effect.tracking_no]
        if not own or not effect.attachment.isdigit():
            return Resolution("add_material", "none")
        if effect.confirmed and len(own) == 1:
            case = own[0]
            await attachments.link_to_case(conn, [int(effect.attachment)], case.id)
            await cases.add_event(
                conn, case.id, at=now, actor="citizen", kind="material_added", public=True
            )
            return Resolution("add_material", "added", tracking_no=case.tracking_no)
        if len(own) == 1:
            return Resolution("add_material", "confirm", tracking_no=own[0].tracking_no)
        views = [await view_for_owner(conn, c, self._progress(contact)) for c in own]
        return Resolution("add_material", "choose", candidates=tuple(views))

    async def _last_contact(
        self, conn: AsyncConnection, contact: Contact, effect: Effect, now: datetime
    ) -> Resolution:
        """The contact details of this citizen's last petition (offered for reuse)."""
        form = self.engine.forms.current()
        roles = [role for role in CONTACT_ROLES if form.by_role(role)]
        for case in await cases.for_contact(conn, contact.id, limit=5):
            prior = [(role, str(case.answers.get(role) or "")) for role in roles]
            if any(v for _, v in prior):
                return Resolution("last_contact", "found", prior=tuple(p for p in prior if p[1]))
        return Resolution("last_contact", "none")

    async def _ask_human(
        self, conn: AsyncConnection, contact: Contact, effect: Effect, now: datetime
    ) -> Resolution:
        """转人工: the request is listed for staff (their latest case attached)."""
        own = await cases.for_contact(conn, contact.id, limit=5)
        open_ = [c for c in own if c.status in OPEN_STATUSES]
        latest = (open_ or own)[:1]
        new = await help_requests.ask(
            conn,
            contact_id=contact.id,
            case_id=latest[0].id if latest else None,
            text=effect.reason,
            in_form=effect.in_form,
            now=now,
        )
        log.info("help.requested", channel=contact.address.channel, new=new)
        return Resolution("ask_human", "recorded" if new else "renewed")

    async def _broadcast_opt(
        self, conn: AsyncConnection, contact: Contact, effect: Effect, now: datetime
    ) -> Resolution:
        """退订 / 订阅 of broadcasts."""
        await contacts.set_broadcast_opt_out(conn, contact.id, effect.opt_out)
        outcome = "unsubscribed" if effect.opt_out else "subscribed"
        return Resolution(effect="broadcast_opt", outcome=outcome)

    async def _list_cases(
        self, conn: AsyncConnection, contact: Contact, effect: Effect, now: datetime
    ) -> Resolution:
        """我的事项."""
        own = await cases.for_contact(conn, contact.id)
        views = [await view_for_owner(conn, c, self._progress(contact)) for c in own]
        return Resolution(effect="list_cases", cases=tuple(views))

    def _progress(self, contact: Contact) -> StatusWords | None:
        """Latest-progress wording in the citizen's language (from the lifecycle texts)."""
        return self.lifecycle.progress_in(contact.lang) if self.lifecycle else None

    async def _citizen_action(
        self, conn: AsyncConnection, contact: Contact, effect: Effect, now: datetime
    ) -> Resolution:
        """A rating or a 复查/复核 request, applied through the lifecycle service."""
        if self.lifecycle is None:
            return Resolution(effect=effect.kind, outcome="none", stage=effect.stage)
        if effect.kind == "rate":
            done = await self.lifecycle.rate_for_contact(
                conn,
                contact.id,
                rating=effect.rating,
                comment=effect.comment,
                tracking_no=effect.tracking_no,
                now=now,
            )
        elif effect.kind == "withdraw":
            done = await self.lifecycle.withdraw_for_contact(
                conn,
                contact.id,
                tracking_no=effect.tracking_no,
                reason=effect.reason,
                confirmed=effect.confirmed,
                now=now,
            )
        else:
            done = await self.lifecycle.request_review_for_contact(
                conn,
                contact.id,
                stage=effect.stage,
                tracking_no=effect.tracking_no,
                reason=effect.reason,
                confirmed=effect.confirmed,
                now=now,
            )
        log.info("case.citizen_action", action=effect.kind, outcome=done.outcome)
        candidates = [
            await view_for_owner(conn, c, self._progress(contact)) for c in done.candidates
        ]
        return Resolution(
            effect=effect.kind,
            outcome=done.outcome,
            tracking_no=done.tracking_no,
            date=done.date,
            rating=effect.rating,
            stage=done.stage or effect.stage,
            candidates=tuple(candidates),
        )


def _without_nul(msg: InboundMessage) -> InboundMessage:
    """Drop NUL characters: PostgreSQL text and JSONB cannot hold them, and JSON (web chat,
    Telegram) can carry them as \\u0000. The validators drop other control characters."""
    att, loc = msg.attachment, msg.location
    texts = [msg.text, msg.command_arg, loc.label if loc else ""]
    if att is not None:
        texts += [att.media_ref, att.filename, att.mime, att.recognition]
    if not any("\x00" in t for t in texts):
        return msg

    def clean(text: str) -> str:
        return text.replace("\x00", "")

    if att is not None:
        att = replace(
            att,
            media_ref=clean(att.media_ref),
            filename=clean(att.filename),
            mime=clean(att.mime),
            recognition=clean(att.recognition),
        )
    if loc is not None:
        loc = replace(loc, label=clean(loc.label))
    return replace(
        msg, text=clean(msg.text), command_arg=clean(msg.command_arg), attachment=att, location=loc
    )


def _settle(job: _Job, outcome: IntakeResult | BaseException) -> None:
    if job.done.done():
        return
    if isinstance(outcome, BaseException):
        job.done.set_exception(outcome)
    else:
        job.done.set_result(outcome)


def _resolved(resolution: Resolution) -> Event:
    return Event(kind="resolved", resolution=resolution)


def _check_settled(result: StepResult) -> None:
    if result.effect is not None:
        raise RuntimeError(f"engine kept asking for effects: {result.effect.kind}")


def _meta(msg: InboundMessage) -> dict[str, Any] | None:
    meta: dict[str, Any] = {}
    if msg.attachment is not None:
        meta["attachment"] = {"kind": msg.attachment.kind, "filename": msg.attachment.filename}
    if msg.location is not None:
        meta["location"] = True
    if msg.command:
        meta["command"] = msg.command
    if msg.event:
        meta["event"] = msg.event
    return meta or None
