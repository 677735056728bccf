"""One reminder before an unfinished petition draft expires.

A citizen who stopped half-way through the form is told once, ``before`` the draft's
expiry, that it is still there and how to carry on. The sweep runs in ``xinfang serve``
every few minutes: it reads the conversations last touched in the reminder window, keeps
those whose state holds a draft that was not reminded since it was last touched (an
outbox row of kind ``reminder`` newer than the draft says so), and queues the reminder
through the outbox like any other message. Several processes may sweep at once: on
PostgreSQL the conversation rows are locked with SKIP LOCKED, so a row is reminded by one
of them; SQLite has one writer.

The default (30 hours before a 72-hour expiry, i.e. 42 hours after the last message)
keeps the reminder inside WeChat's 48-hour customer-service window.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.clock import utc_now
from bot.dialogs.texts import Texts
from bot.dialogs.turn import parse_time
from bot.logging import get_logger
from bot.messages import Reply
from bot.storage import contacts, outbox
from bot.storage.db import Database
from bot.storage.tables import conversations
from bot.storage.tables import outbox as outbox_table

KIND = "reminder"
SWEEP_EVERY = timedelta(minutes=5)

log = get_logger(__name__)


async def remind_drafts(
    db: Database, texts: Texts, *, now: datetime, ttl: timedelta, before: timedelta
) -> int:
    """Queue the reminders due now; returns how many."""
    if before <= timedelta(0) or before >= ttl:
        return 0
    window_start, window_end = now - ttl, now - (ttl - before)
    sent = 0
    async with db.transaction() as conn:
        query = (
            select(conversations.c.contact_id, conversations.c.state)
            .where(conversations.c.updated_at > window_start)
            .where(conversations.c.updated_at <= window_end)
            .order_by(conversations.c.contact_id)
        )
        if db.is_postgres:
            query = query.with_for_update(skip_locked=True)
        for contact_id, state in (await conn.execute(query)).all():
            draft = (state or {}).get("draft") if isinstance(state, dict) else None
            touched = parse_time(draft.get("updated")) if isinstance(draft, dict) else None
            if touched is None or not window_start < touched <= window_end:
                continue
            last = (
                await conn.execute(
                    select(func.max(outbox_table.c.created_at)).where(
                        outbox_table.c.contact_id == contact_id, outbox_table.c.kind == KIND
                    )
                )
            ).scalar_one()
            if last is not None and last >= touched:
                continue  # reminded once already for this pause
            contact = await contacts.get(conn, contact_id)
            if not contact.reachable:
                continue
            lang = state.get("lang") if state.get("lang") in texts.by_lang else "zh"
            hours = max(1, round((touched + ttl - now).total_seconds() / 3600))
            text = texts.get(lang, "draft.reminder", hours=hours)
            await outbox.enqueue(
                conn,
                contact_id=contact_id,
                address=contact.address,
                reply=Reply(text),
                now=now,
                kind=KIND,
            )
            sent += 1
    if sent:
        log.info("draft.reminders", count=sent)
    return sent


async def run(
    db: Database,
    texts: Texts,
    stop: asyncio.Event,
    *,
    ttl: timedelta,
    before: timedelta,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """Sweep every few minutes until ``stop`` is set."""
    while not stop.is_set():
        try:
            await remind_drafts(db, texts, now=clock(), ttl=ttl, before=before)
        except Exception:  # a failed sweep is retried at the next one
            log.exception("draft.reminders_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SWEEP_EVERY.total_seconds())
