"""Long polling against the fake: commit, offset in the kv table, resume, callback answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from telegram.request import BaseRequest

from bot.app import build_services
from bot.channels.telegram import make_bot, make_requests
from bot.channels.telegram_polling import Poller
from bot.channels.telegram_updates import OFFSET_KEY, UpdateProcessor
from bot.storage import kv
from bot.storage.db import Database
from bot.storage.tables import inbound_messages, outbox
from tests.fakes_telegram import FakeTelegram, callback_update, text_update

DATABASES: list[Database] = []
CLIENTS: list[BaseRequest] = []


@pytest.fixture(autouse=True)
async def dispose_databases() -> AsyncIterator[None]:
    yield
    while DATABASES:
        await DATABASES.pop().dispose()
    while CLIENTS:
        await CLIENTS.pop().shutdown()


def poller_for(make_settings: Any) -> Poller:
    services = build_services(make_settings(telegram_polling=True, telegram_poll_timeout=1))
    DATABASES.append(services.db)
    requests = make_requests(services.settings)
    CLIENTS.extend(requests)
    bot = make_bot(services.settings, requests=requests)
    processor = UpdateProcessor(
        services.intake,
        services.db,
        bot,
        attachments_dir=services.settings.attachments_dir,
        max_upload_bytes=services.settings.max_upload_bytes,
    )
    return Poller(processor, bot, services.db, timeout=1)


async def inbound_count(db: Database) -> int:
    async with db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(inbound_messages))).scalar_one()
        )


async def test_batch_is_committed_and_offset_stored(
    db: Database, fake: FakeTelegram, make_settings: Any
) -> None:
    fake.webhook = {"url": "https://example.invalid/telegram"}
    poller = poller_for(make_settings)
    await poller.prepare()
    assert fake.webhook == {}
    fake.push_update(text_update(50, "/start", chat_id=901))
    fake.push_update(callback_update(51, "申诉求决", chat_id=901, message_id=1001))
    fake.push_update({"update_id": 52, "message": {"text": "broken"}})  # skipped, confirmed
    assert await poller.poll_once() == 2
    assert await poller.offset() == 53
    async with db.read() as conn:
        entry = await kv.get(conn, OFFSET_KEY)
    assert entry is not None and entry.value == {"next": 53}
    assert await inbound_count(db) == 2
    answers = [c for c in fake.calls if c.method == "answerCallbackQuery"]
    assert [a.params["callback_query_id"] for a in answers] == ["cbq-51"]
    # the next poll confirms the batch: Telegram forgets it
    assert await poller.poll_once() == 0
    assert fake.pending_updates() == []


async def test_restart_resumes_and_a_redelivered_batch_is_harmless(
    db: Database, fake: FakeTelegram, make_settings: Any
) -> None:
    first = poller_for(make_settings)
    fake.push_update(text_update(60, "/start", chat_id=902))
    assert await first.poll_once() == 1
    async with db.read() as conn:
        replies = int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())
    # a crash before the offset reached Telegram: the same update comes again
    fake.push_update(text_update(60, "/start", chat_id=902))
    fake.push_update(text_update(61, "/help", chat_id=902))
    second = poller_for(make_settings)  # a new process reads the stored offset
    assert await second.offset() == 61
    await second.poll_once()
    assert await inbound_count(db) == 2
    async with db.read() as conn:
        after = int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())
    assert after > replies


async def test_run_stops_promptly_during_a_long_poll(
    db: Database, fake: FakeTelegram, make_settings: Any
) -> None:
    poller = poller_for(make_settings)
    poller.timeout = 30
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    fake.push_update(text_update(70, "/start", chat_id=903))
    for _ in range(100):
        if await inbound_count(db) == 1:
            break
        await asyncio.sleep(0.05)
    assert await inbound_count(db) == 1
    stop.set()
    await asyncio.wait_for(task, timeout=5)
