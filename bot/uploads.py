"""Files citizens send: admitted only where the dialog can keep them, swept when orphaned.

A file is written to disk only when the conversation has a live draft with room for it
or the citizen has an open case it may be added to (补充材料), and the contact holds
fewer than ``MAX_UNLINKED_PER_CONTACT`` files not yet part of a case. Files that never
reached a case (a draft that expired, material the citizen did not place) are deleted,
row and file, once older than the draft TTL and no longer held by the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from bot.clock import utc_now
from bot.dialogs.engine import (
    MAX_ATTACHMENTS,
    EngineConfig,
    draft_file_room,
    kept_attachment_ids,
)
from bot.domain.statuses import OPEN_STATUSES
from bot.logging import get_logger
from bot.messages import Address
from bot.storage import attachments, cases, contacts
from bot.storage.db import Database
from bot.storage.files import remove

log = get_logger(__name__)

# The media types a file may have (prefixes), for citizens' uploads and staff's scans alike
ACCEPTED_TYPES = (
    "image/",
    "audio/",
    "video/",
    "application/pdf",
    "text/plain",
    "application/msword",
    "application/vnd.openxmlformats-officedocument",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.oasis.opendocument",
)
MAX_UNLINKED_PER_CONTACT = 40  # a full draft (30) and a few pieces of material
SWEEP_EVERY = timedelta(minutes=10)
IDLE = "attachments.idle"
TOO_MANY = "attachments.too_many"


async def file_refusal(db: Database, engine: EngineConfig, address: Address, now: datetime) -> str:
    """Why a file from ``address`` may not be written ("" when it may): the text key
    ``attachments.idle`` (no live draft, no open case) or ``attachments.too_many``."""
    async with db.read() as conn:
        contact = await contacts.find(conn, address)
        if contact is None:
            return IDLE
        if await attachments.unlinked_count(conn, contact.id) >= MAX_UNLINKED_PER_CONTACT:
            return TOO_MANY
        state = await contacts.load_state(conn, contact.id)
        room = draft_file_room(engine, state, now)
        if room is not None:  # a live draft: the per-draft cap holds
            return "" if room > 0 else TOO_MANY
        own = await cases.for_contact(conn, contact.id)
        return "" if any(c.status in OPEN_STATUSES for c in own) else IDLE


def refusal_text(engine: EngineConfig, lang: str, key: str) -> str:
    """The citizen's explanation of a refused file, in ``lang``."""
    return engine.texts.get(lang, key, max=MAX_ATTACHMENTS)


async def sweep_orphans(db: Database, root: Path, *, now: datetime, ttl: timedelta) -> int:
    """Delete files (rows and disk) that never reached a case; returns how many."""
    removed, after = 0, 0
    while True:  # a page per transaction: the write lock is held briefly
        keys: list[str] = []
        async with db.transaction() as conn:
            page = await attachments.unlinked_before(conn, now - ttl, after)
            for att_id, _contact, state in page:
                if str(att_id) in kept_attachment_ids(state):
                    continue  # a live draft or a pending 补充材料 question still holds it
                key = await attachments.discard(conn, att_id)
                if key is not None:
                    keys.append(key)
        for key in keys:  # their rows are gone (committed): now the files
            remove(root, key)
        removed += len(keys)
        if not page:
            break
        after = page[-1][0]
    if removed:
        log.info("attachments.orphans_swept", count=removed)
    return removed


async def run(
    db: Database,
    root: Path,
    stop: asyncio.Event,
    *,
    ttl: timedelta,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """Sweep orphaned files every few minutes until ``stop`` is set."""
    while not stop.is_set():
        try:
            await sweep_orphans(db, root, now=clock(), ttl=ttl)
        except Exception:  # a failed sweep is retried at the next one
            log.exception("attachments.sweep_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SWEEP_EVERY.total_seconds())
