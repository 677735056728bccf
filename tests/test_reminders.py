"""One reminder before an unfinished draft expires, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.dialogs.texts import load_texts
from bot.messages import Address
from bot.reminders import KIND, remind_drafts
from bot.storage import contacts
from bot.storage.db import Database
from bot.storage.tables import outbox
from tests.dialogs.harness import CONFIG_DIR

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TTL, BEFORE = timedelta(hours=72), timedelta(hours=30)


async def _conversation(db: Database, user: str, idle: timedelta, *, draft: bool) -> None:
    touched = NOW - idle
    state = {"v": 1, "lang": "zh", "draft": None}
    if draft:
        state["draft"] = {"current": "phone", "answers": {}, "updated": touched.isoformat()}
    async with db.transaction() as conn:
        contact = await contacts.get_or_create(conn, Address("web", user), touched)
        _, version = await contacts.lock_state(conn, contact.id, touched)
        await contacts.save_state(conn, contact.id, state, version, touched)


async def _reminders(db: Database) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(select(outbox.c.address, outbox.c.payload, outbox.c.kind))
        return [r.address for r in rows if r.kind == KIND]


async def test_a_draft_left_for_42_hours_is_reminded_once(db: Database) -> None:
    texts = load_texts(CONFIG_DIR)
    await _conversation(db, "paused", timedelta(hours=43), draft=True)
    await _conversation(db, "recent", timedelta(hours=10), draft=True)  # not yet
    await _conversation(db, "expired", timedelta(hours=80), draft=True)  # too late
    await _conversation(db, "idle", timedelta(hours=43), draft=False)  # nothing to finish
    sent = await remind_drafts(db, texts, now=NOW, ttl=TTL, before=BEFORE)
    assert sent == 1 and await _reminders(db) == ["paused"]
    # the next sweep does not remind the same pause again
    assert (
        await remind_drafts(db, texts, now=NOW + timedelta(minutes=5), ttl=TTL, before=BEFORE) == 0
    )
    async with db.read() as conn:
        payload = (await conn.execute(select(outbox.c.payload))).scalar_one()
    assert "还没有填写完" in payload["text"] and "继续" in payload["text"]


async def test_no_reminder_when_turned_off(db: Database) -> None:
    await _conversation(db, "paused", timedelta(hours=43), draft=True)
    texts = load_texts(CONFIG_DIR)
    assert await remind_drafts(db, texts, now=NOW, ttl=TTL, before=timedelta(0)) == 0
