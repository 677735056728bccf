"""One full petition over Telegram against a running `xinfang serve` and the fake Bot API.

By webhook and by long polling, each with a SIGKILL restart in the middle (SQLite and
PostgreSQL).
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.storage.db import Database
from bot.storage.tables import cases, contacts
from tests.e2e.test_webchat_e2e import Server
from tests.fakes_telegram import TOKEN, FakeTelegram, callback_update, text_update
from tests.petition import ANSWERS_ZH, CONFIRM_WORD, field_asked

pytestmark = pytest.mark.e2e
SECRET = "e2e-secret-token"
CHAT = 8880001


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(chat_interval=0.05)  # we send at most 10/s per chat: a margin
    await server.start()
    yield server
    await server.stop()


class TelegramCitizen:
    """A Telegram user: sends updates (webhook POST or getUpdates queue), reads the fake."""

    def __init__(self, fake: FakeTelegram, http: aiohttp.ClientSession, polling: bool) -> None:
        self.fake = fake
        self.http = http
        self.polling = polling
        self.base = ""
        self.ids = itertools.count(1000)

    async def deliver(self, update: dict[str, Any]) -> None:
        if self.polling:
            self.fake.push_update(update)
            return
        for _ in range(50):  # a restarting server: Telegram retries until it is back
            try:
                async with self.http.post(
                    f"{self.base}/telegram",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                ) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError("webhook never accepted the update")

    async def _replies(self, before: int, *, require: bool = True) -> list[dict[str, Any]]:
        """The bot's messages after ``before``, once they stop arriving for a moment."""
        deadline = time.monotonic() + (20 if require else 3)
        seen, quiet_since = before, time.monotonic()
        while time.monotonic() < deadline:
            count = len(self.fake.sent(CHAT))
            if count != seen:
                seen, quiet_since = count, time.monotonic()
            elif count > before and time.monotonic() - quiet_since > 0.6:
                break
            await asyncio.sleep(0.05)
        new = [c.params for c in self.fake.sent(CHAT)[before:]]
        assert new or not require, "the bot did not answer"
        return new

    async def say(self, text: str) -> list[dict[str, Any]]:
        before = len(self.fake.sent(CHAT))
        await self.deliver(text_update(next(self.ids), text, CHAT))
        return await self._replies(before)

    async def tap(self, reply: dict[str, Any], answer: str) -> list[dict[str, Any]] | None:
        """Tap the button matching the answer on the bot's last message, if it has one."""
        markup = reply.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if answer in (button["text"], button["callback_data"]):
                    before = len(self.fake.sent(CHAT))
                    update = callback_update(
                        next(self.ids), button["callback_data"], CHAT, message_id=1001
                    )
                    await self.deliver(update)
                    return await self._replies(before)
        return None

    async def answer(self, replies: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
        """Answer up to ``limit`` questions; stops at the read-back."""
        for _ in range(limit):
            last = replies[-1]
            if "确认提交" in last["text"]:
                return replies
            field = field_asked(last["text"])
            if field is None and "确认提交" not in last["text"]:
                # a loaded machine can pause longer than the quiet period between two
                # replies (greeting, then question): wait for the rest before judging
                more = await self._replies(len(self.fake.sent(CHAT)), require=False)
                if more:
                    replies = [*replies, *more]
                    continue
            assert field is not None, f"unrecognised question: {last['text']}"
            tapped = await self.tap(last, ANSWERS_ZH[field])
            replies = tapped if tapped is not None else await self.say(ANSWERS_ZH[field])
            if field == "facts":
                replies = await self.say("完成")
        return replies


def telegram_server(db_url: str, data_dir: Path, fake: FakeTelegram, polling: bool) -> Server:
    server = Server(db_url, data_dir)
    server.env.update(
        {
            "XINFANG_TELEGRAM_TOKEN": TOKEN,
            "XINFANG_TELEGRAM_SECRET": SECRET,
            "XINFANG_TELEGRAM_API_BASE": fake.url,
            "XINFANG_TELEGRAM_POLLING": "true" if polling else "false",
            "XINFANG_TELEGRAM_POLL_TIMEOUT": "1",
            "XINFANG_TELEGRAM_RATE_PER_CHAT_PER_SECOND": "10",
        }
    )
    return server


@pytest.mark.parametrize("polling", [False, True], ids=["webhook", "polling"])
async def test_full_petition_over_telegram_with_a_restart(
    db: Database, db_url: str, tmp_path: Path, fake: FakeTelegram, polling: bool
) -> None:
    servers: list[Server] = []

    async def start() -> Server:
        server = telegram_server(db_url, tmp_path / "data", fake, polling)
        servers.append(server)
        await server.start()
        return server

    try:
        async with aiohttp.ClientSession() as http:
            citizen = TelegramCitizen(fake, http, polling)
            citizen.base = (await start()).url
            replies = await citizen.say("/start")  # the welcome and the menu
            assert "新建信访事项" in replies[-1]["text"]
            replies = await citizen.say("新建")
            replies = await citizen.answer(replies, limit=4)

            servers[-1].stop(signal.SIGKILL)  # mid-petition, without warning
            citizen.base = (await start()).url
            replies = await citizen.say("继续")
            replies = await citizen.answer(replies, limit=40)
            assert "确认提交" in replies[-1]["text"]
            done = await citizen.say(CONFIRM_WORD)

        async with db.read() as conn:
            number = (await conn.execute(select(cases.c.tracking_no))).scalar_one()
            channel = (await conn.execute(select(contacts.c.channel))).scalar_one()
        assert channel == "telegram"
        assert any(number[2:8] in r["text"] for r in done)
        # every button tap was answered (in the webhook response, or by the poller) and
        # nothing we sent ran into Telegram's limits
        assert not fake.statuses(429)
        if polling:
            assert any(c.method == "answerCallbackQuery" for c in fake.calls)
            assert any(c.method == "getUpdates" for c in fake.calls)
        assert all(len(c.params["text"]) <= 4096 for c in fake.sent(CHAT))
    finally:
        for server in servers:
            server.stop(signal.SIGKILL)
