"""SIGTERM: in-flight requests finish, the outbox stops and hands back its rows, the process
exits within the configured time even when a platform call hangs (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.storage.db import Database
from bot.storage.tables import inbound_messages, outbox
from tests.channels.wechat.payloads import WeChatSide, message
from tests.fakes_telegram import FakeTelegram, text_update
from tests.fakes_wechat import FakeWeChat
from tests.reliability.support import (
    count_rows,
    post_telegram,
    telegram_env,
    wait_until,
    wechat_env,
)
from tests.server import Server

pytestmark = pytest.mark.e2e
HUNG_CHAT = 7770001
OPENID = "o-shutdown-citizen-0001"


async def test_sigterm_finishes_requests_and_hands_back_outbox_rows(
    db: Database,
    db_url: str,
    tmp_path: Path,
    fake_wechat: FakeWeChat,
    fake_telegram: FakeTelegram,
) -> None:
    fake_telegram.timeout_seconds = 300  # a send that hangs far longer than shutdown allows
    fake_telegram.fail(HUNG_CHAT, "timeout", times=1)
    env = {
        **wechat_env(fake_wechat),
        **telegram_env(fake_telegram),
        "XINFANG_SHUTDOWN_TIMEOUT_SECONDS": "2",
    }
    server = Server(db_url, tmp_path / "data", **env)
    await server.start()
    assert server.proc is not None
    try:
        async with aiohttp.ClientSession() as http:
            # the outbox worker is stuck in a send to this chat
            status, _ = await post_telegram(http, server.url, text_update(1, "/start", HUNG_CHAT))
            assert status == 200
            await wait_until(lambda: fake_telegram.sent(HUNG_CHAT), what="the hanging send")
            hung = fake_telegram.sent(HUNG_CHAT)[0]  # recorded, but never answered
            # a WeChat image whose media download is slow is in flight when SIGTERM comes
            fake_wechat.add_media("MEDIA-SLOW", b"\xff\xd8jpeg", "image/jpeg", "photo.jpg")
            side = WeChatSide()
            # a petition under way: its files are downloaded (outside a draft they are not)
            path, body = side.post(message("text", OPENID, Content="新建"))
            async with http.post(server.url + path, data=body.encode()) as started:
                assert started.status == 200
            fake_wechat.inject("slow", "media", seconds=1.5)
            path, body = side.post(message("image", OPENID, MediaId="MEDIA-SLOW"))
            request = asyncio.create_task(http.post(server.url + path, data=body.encode()))
            await wait_until(lambda: not fake_wechat.faults, what="the slow media download")
            server.proc.send_signal(signal.SIGTERM)
            response = await request
            assert response.status == 200, await response.text()
            await response.release()

        code = await asyncio.to_thread(server.proc.wait, 120)
        assert code == 0
        log = server.log.read_text()
        assert "serve.stopping" in log and "outbox.stop_timeout" in log
        # the request in flight was committed; nothing is left claimed by the dead worker
        assert await count_rows(db, inbound_messages, inbound_messages.c.channel == "wechat") == 2
        assert await count_rows(db, outbox, outbox.c.status == "sending") == 0
        async with db.read() as conn:
            held = (
                await conn.execute(
                    select(outbox.c.status).where(outbox.c.address == str(HUNG_CHAT))
                )
            ).all()
        assert held and all(r.status == "pending" for r in held)

        # the next process delivers what the stopped one handed back, once each
        again = Server(db_url, tmp_path / "data", **env)
        await again.start()
        try:
            rows = len(held)

            def delivered() -> int:
                return len([c for c in fake_telegram.sent(HUNG_CHAT) if c is not hung])

            await wait_until(lambda: delivered() >= rows, what="redelivery")
            await asyncio.sleep(0.5)
            assert delivered() == rows
            assert await count_rows(db, outbox, outbox.c.status == "sent") == rows
        finally:
            again.stop()
    finally:
        server.stop(signal.SIGKILL)


async def test_open_event_streams_do_not_hold_the_shutdown(tmp_path: Path) -> None:
    # a minute of grace that must not be needed: the web chat's event stream ends at once
    # (the same on both databases: SQLite only)
    url = f"sqlite+aiosqlite:///{tmp_path / 'xinfang.sqlite3'}"
    server = Server(url, tmp_path / "data", XINFANG_SHUTDOWN_TIMEOUT_SECONDS="60")
    await server.start()
    assert server.proc is not None
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(f"{server.url}/chat") as resp:
                assert resp.status == 200
            stream = await http.get(f"{server.url}/chat/api/events")
            assert stream.status == 200
            server.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(server.proc.wait, 30)
            stream.close()
        assert code == 0
    finally:
        server.stop(signal.SIGKILL)
