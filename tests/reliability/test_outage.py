"""Platform outage: WeChat and Telegram unreachable, then back.

Deliveries back off (exponentially, not once per poll), the backlog shows on /readyz and
/metrics, and after recovery every message arrives exactly once. CI runs a few seconds
of outage; the long form is the same test with minutes::

    XINFANG_OUTAGE_SECONDS=300 pytest tests/reliability/test_outage.py -s
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.clock import utc_now
from bot.messages import Address, Reply
from bot.storage import contacts as contact_repo
from bot.storage import outbox as outbox_repo
from bot.storage.db import Database
from bot.storage.tables import outbox
from tests.fakes_telegram import FakeTelegram
from tests.fakes_wechat import FakeWeChat
from tests.reliability.support import Outage, multiset, telegram_env, wait_until, wechat_env
from tests.server import Server

pytestmark = pytest.mark.e2e
OUTAGE_SECONDS = float(os.environ.get("XINFANG_OUTAGE_SECONDS", "4"))
CHATS = [str(6_200_000 + i) for i in range(10)]
OPENIDS = [f"o-outage-{i:03d}" for i in range(10)]
PER_CHAT = 3


async def backlog(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, float]]:
    """(backlog on /readyz, rows waiting per channel on /metrics)."""
    async with http.get(f"{url}/readyz") as resp:
        assert resp.status == 200
        ready = await resp.json()
    async with http.get(f"{url}/metrics") as resp:
        text = await resp.text()
    waiting: dict[str, float] = {}  # pending, or being tried at this moment (sending)
    for m in re.finditer(r'xinfang_outbox_rows\{channel="(\w+)",status="(\w+)"\} (\S+)', text):
        if m.group(2) in ("pending", "sending"):
            waiting[m.group(1)] = waiting.get(m.group(1), 0) + float(m.group(3))
    return int(ready["outbox_backlog"]), waiting


async def test_deliveries_back_off_during_an_outage_and_all_arrive_after(
    db: Database,
    db_url: str,
    tmp_path: Path,
    fake_wechat: FakeWeChat,
    fake_telegram: FakeTelegram,
) -> None:
    wechat_link, telegram_link = Outage(fake_wechat.url), Outage(fake_telegram.url)
    await wechat_link.up()
    await telegram_link.up()
    fake_wechat.url, fake_telegram.url = wechat_link.url, telegram_link.url  # what serve uses
    server = Server(
        db_url, tmp_path / "data", **wechat_env(fake_wechat), **telegram_env(fake_telegram)
    )
    await server.start()
    total = (len(CHATS) + len(OPENIDS)) * PER_CHAT
    try:
        await wechat_link.down()
        await telegram_link.down()
        now = utc_now()
        async with db.transaction() as conn:
            for channel, addresses in (("telegram", CHATS), ("wechat", OPENIDS)):
                for address in addresses:
                    fake_wechat.user_wrote(address)
                    contact = await contact_repo.get_or_create(conn, Address(channel, address), now)
                    for n in range(PER_CHAT):
                        await outbox_repo.enqueue(
                            conn,
                            contact_id=contact.id,
                            address=Address(channel, address),
                            reply=Reply(f"您的信访事项已受理 {address}-{n}"),
                            now=now,
                        )
        async with aiohttp.ClientSession() as http:
            await asyncio.sleep(OUTAGE_SECONDS)
            waiting, pending = await backlog(http, server.url)
            assert waiting == total
            assert pending == {"telegram": len(CHATS) * PER_CHAT, "wechat": len(OPENIDS) * PER_CHAT}
            async with db.read() as conn:
                tried = (
                    await conn.execute(
                        select(func.max(outbox.c.attempts), func.min(outbox.c.attempts))
                    )
                ).one()
                errors = (await conn.execute(select(outbox.c.last_error))).scalars().all()
            # each chat's first row was tried, and retried with growing pauses: a worker
            # polling every 0.1 s without backoff would have tried it dozens of times
            assert 1 <= tried[0] <= 2 + math.ceil(math.log2(OUTAGE_SECONDS + 1))
            assert any(e for e in errors)

            await wechat_link.up()
            await telegram_link.up()

            async def drained() -> bool:
                return (await backlog(http, server.url))[0] == 0

            await wait_until(drained, seconds=120 + 2 * OUTAGE_SECONDS, what="backlog drained")
            waiting, pending = await backlog(http, server.url)
            assert waiting == 0 and not any(pending.values())

        sent = multiset((str(c.params["chat_id"]), c.params["text"]) for c in fake_telegram.sent())
        assert len(sent) == len(CHATS) * PER_CHAT and set(sent.values()) == {1}
        custom = multiset((m["touser"], m["content"]) for m in fake_wechat.custom)
        assert len(custom) == len(OPENIDS) * PER_CHAT and set(custom.values()) == {1}
        # each chat's messages arrived in the order they were queued
        for chat in CHATS:
            texts = [c.params["text"] for c in fake_telegram.sent(int(chat))]
            assert texts == [f"您的信访事项已受理 {chat}-{n}" for n in range(PER_CHAT)]
        async with db.read() as conn:
            statuses = multiset((await conn.execute(select(outbox.c.status))).scalars().all())
        assert statuses == {"sent": total}
    finally:
        server.stop()
        await wechat_link.down()
        await telegram_link.down()
