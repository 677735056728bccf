"""The inbound use case: dedupe · lock · load · step the engine · save, in one transaction.

This is the only caller of the dialog engine. Replies are either returned for the
request's own response ("direct") or written to the outbox in the same transaction.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cases.registration import create_case, view_for_owner, view_for_verified
from bot.cases.service import LifecycleService
from bot.clock import utc_now
from bot.dialogs.engine import EngineConfig, state_lang, step
from bot.dialogs.types import Effect, Event, Resolution, StepResult
from bot.logging import get_logger
from bot.messages import Address, InboundMessage, Reply
from bot.metrics import CASES_SUBMITTED, INBOUND, INBOUND_DUPLICATES
from bot.storage import attachments, cases, contacts, inbound, outbox
from bot.storage.contacts import Contact
from bot.storage.db import Database

log = get_logger(__name__)

MAX_EFFECTS_PER_MESSAGE = 4  # an engine step resolves at most a lookup then a submit


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What became of one inbound message."""

    replies: list[Reply]
    direct: bool  # True: the caller answers with these; False: they are in the outbox
    duplicate: bool = False
    contact_id: int = 0
    inbound_id: int = 0


class Intake:
    """Turns verified inbound messages into conversation steps, cases and replies."""

    def __init__(
        self,
        db: Database,
        engine: EngineConfig,
        *,
        timezone: str = "Asia/Shanghai",
        clock: Callable[[], datetime] = utc_now,
        lifecycle: LifecycleService | None = None,
    ) -> None:
        self.db = db
        self.engine = engine
        self.lifecycle = lifecycle  # registration enrichment, ratings and 复查 requests
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        # One in-process lock per conversation keeps concurrent messages of one citizen
        # from queueing on the database lock; the database lock is what guarantees it.
        self._locks: weakref.WeakValueDictionary[Address, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _lock(self, address: Address) -> asyncio.Lock:
        lock = self._locks.get(address)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[address] = lock
        return lock

    async def handle(
        self,
        msg: InboundMessage,
        *,
        via_outbox: bool = False,
        direct_deadline: float | None = None,
    ) -> IntakeResult:
        """Process one message exactly once.

        ``via_outbox``: the channel cannot answer in the request (Telegram webhook);
        ``direct_deadline``: event-loop time after which replies go to the outbox instead
        (WeChat's 5-second rule). A duplicate gets the replies recorded the first time.
        """
        msg = _without_nul(msg)
        async with self._lock(msg.address), self.db.transaction() as conn:
            return await self._handle(conn, msg, via_outbox, direct_deadline)

    async def _handle(
        self,
        conn: AsyncConnection,
        msg: InboundMessage,
        via_outbox: bool,
        direct_deadline: float | None,
    ) -> IntakeResult:
        now = self.clock()
        contact = await contacts.get_or_create(conn, msg.address, now)
        inbound_id = await inbound.record(
            conn,
            channel=msg.address.channel,
            external_id=msg.external_id,
            contact_id=contact.id,
            received_at=now,
            text=msg.text,
            meta=_meta(msg),
        )
        INBOUND.labels(msg.address.channel).inc()
        if inbound_id is None:
            stored = await inbound.stored_replies(conn, msg.address.channel, msg.external_id)
            INBOUND_DUPLICATES.labels(msg.address.channel).inc()
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

        if msg.event == "unsubscribe":
            await contacts.update_contact(conn, contact.id, reachable=False)
            await inbound.save_replies(conn, inbound_id, [], "direct")
            return IntakeResult([], direct=True, contact_id=contact.id, inbound_id=inbound_id)
        await contacts.update_contact(conn, contact.id, last_inbound_at=now, reachable=True)

        event = await self._event(conn, contact, msg, now)
        state, version = await contacts.lock_state(conn, contact.id, now)
        local_now = now.astimezone(self.tz)
        result = step(self.engine, state, event, local_now)
        replies = list(result.replies)
        for _ in range(MAX_EFFECTS_PER_MESSAGE):
            if result.effect is None:
                break
            resolution = await self._resolve(conn, contact, result.effect, now)
            result = step(self.engine, result.state, _resolved(resolution), local_now)
            replies.extend(result.replies)
        else:
            _check_settled(result)
        await contacts.save_state(conn, contact.id, result.state, version, now)
        lang = state_lang(result.state)
        if lang != contact.lang:
            await contacts.update_contact(conn, contact.id, lang=lang)

        late = direct_deadline is not None and asyncio.get_running_loop().time() > direct_deadline
        if via_outbox or late:
            for reply in replies:
                await outbox.enqueue(
                    conn,
                    contact_id=contact.id,
                    address=msg.address,
                    reply=reply,
                    now=now,
                    kind="reply",
                )
            await inbound.save_replies(conn, inbound_id, replies, "outbox")
            return IntakeResult(replies, direct=False, contact_id=contact.id, inbound_id=inbound_id)
        await inbound.save_replies(conn, inbound_id, replies, "direct")
        return IntakeResult(replies, direct=True, contact_id=contact.id, inbound_id=inbound_id)

    async def _event(
        self, conn: AsyncConnection, contact: Contact, msg: InboundMessage, now: datetime
    ) -> Event:
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
            return Event(
                kind="attachment", attachment=replace(msg.attachment, media_ref=str(att_id))
            )
        if msg.location is not None:
            return Event(kind="location", location=msg.location)
        if msg.command or msg.event == "subscribe":
            return Event(
                kind="command", command=msg.command or "start", command_arg=msg.command_arg
            )
        return Event(kind="text", text=msg.text)

    async def _resolve(
        self, conn: AsyncConnection, contact: Contact, effect: Effect, now: datetime
    ) -> Resolution:
        if effect.kind == "submit":
            assert effect.submission is not None
            enrich = self.lifecycle.registrar.enrich if self.lifecycle else None
            tracking_no = await create_case(
                conn, contact=contact, submission=effect.submission, now=now, enrich=enrich
            )
            CASES_SUBMITTED.labels(contact.address.channel).inc()
            log.info("case.submitted", channel=contact.address.channel, tracking_no=tracking_no)
            return Resolution(effect="submit", tracking_no=tracking_no)
        if effect.kind in ("rate", "request_review"):
            return await self._citizen_action(conn, contact, effect, now)
        if effect.kind == "broadcast_opt":
            await contacts.set_broadcast_opt_out(conn, contact.id, effect.opt_out)
            outcome = "unsubscribed" if effect.opt_out else "subscribed"
            return Resolution(effect="broadcast_opt", outcome=outcome)
        if effect.kind == "list_cases":
            own = await cases.for_contact(conn, contact.id)
            views = [await view_for_owner(conn, c) for c in own]
            return Resolution(effect="list_cases", cases=tuple(views))
        case = await cases.by_tracking_no(conn, effect.tracking_no)
        if case is None:
            return Resolution(effect="lookup_case", outcome="not_found")
        if case.contact_id == contact.id:
            return Resolution(
                effect="lookup_case", outcome="found", case=await view_for_owner(conn, case)
            )
        if not effect.verify_digits:
            return Resolution(effect="lookup_case", outcome="foreign")
        if len(case.phone) >= 4 and effect.verify_digits == case.phone[-4:]:
            return Resolution(
                effect="lookup_case", outcome="verified", case=await view_for_verified(conn, case)
            )
        log.info("lookup.verify_failed", channel=contact.address.channel)
        return Resolution(effect="lookup_case", outcome="verify_failed")

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
        else:
            done = await self.lifecycle.request_review_for_contact(
                conn, contact.id, stage=effect.stage, tracking_no=effect.tracking_no, now=now
            )
        log.info("case.citizen_action", action=effect.kind, outcome=done.outcome)
        return Resolution(
            effect=effect.kind,
            outcome=done.outcome,
            tracking_no=done.tracking_no,
            date=done.date,
            rating=effect.rating,
            stage=done.stage or effect.stage,
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
