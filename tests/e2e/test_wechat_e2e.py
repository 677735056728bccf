"""A whole petition over WeChat in safe (AES) mode, against a running `xinfang serve`.

The server talks to the local fake WeChat API for the token, media and the
customer-service messages that carry replies too long for one passive reply.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.clock import utc_now
from bot.domain.tracking import format_tracking_no
from bot.messages import Address, Reply
from bot.storage import outbox
from bot.storage.db import Database
from bot.storage.tables import cases, contacts
from tests.channels.wechat.payloads import AES_KEY, APP_ID, TOKEN, message
from tests.e2e.wechat_support import OPENID, WeChatUser, wait_for
from tests.fakes_wechat import FakeWeChat
from tests.server import Server

pytestmark = pytest.mark.e2e


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    server = FakeWeChat(app_id=APP_ID)
    await server.start()
    yield server
    await server.stop()


async def push(db: Database, text: str, template: dict[str, Any]) -> None:
    async with db.transaction() as conn:
        contact_id = (await conn.execute(select(contacts.c.id))).scalar_one()
        await outbox.enqueue(
            conn,
            contact_id=contact_id,
            address=Address("wechat", OPENID),
            reply=Reply(text),
            now=utc_now(),
            template=template,
        )


async def test_petition_over_wechat_aes(
    db: Database, db_url: str, tmp_path: Path, fake: FakeWeChat
) -> None:
    server = Server(db_url, tmp_path / "data")
    server.env.update(
        {
            "XINFANG_WECHAT_TOKEN": TOKEN,
            "XINFANG_WECHAT_APP_ID": APP_ID,
            "XINFANG_WECHAT_APP_SECRET": fake.app_secret,
            "XINFANG_WECHAT_AES_KEY": AES_KEY,
            "XINFANG_WECHAT_TEMPLATE_ID": fake.template_id,
            "XINFANG_PUBLIC_URL": "https://xinfang.example.gov.cn",
            "XINFANG_SECRET_KEY": "e2e-secret-" + "x" * 32,
            "XINFANG_WECHAT_API_BASE": fake.url,
        }
    )
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            user = WeChatUser(http, server.url, fake)
            done = await user.file_petition()
            async with db.read() as conn:
                number = (await conn.execute(select(cases.c.tracking_no))).scalar_one()
                channel = (await conn.execute(select(contacts.c.channel))).scalar_one()
            assert channel == "wechat"
            assert number[2:8] in done

            status = await user.say(f"查询 {number}")
            assert number[2:8] in status
            # a retry of the status query (same MsgId) gets the same answer, stepped once
            xml = message("text", OPENID, msg_id=987654321, Content=f"查询 {number}")
            first = await user.post(xml)
            assert first and await user.post(xml) == first

            # a case transition's push goes out as a customer-service message, and
            # after 48 hours of silence as a template message
            accepted = {"key": "push.accepted", "tracking_no": number, "event_id": 1}
            await push(db, "您的信访事项已受理。", accepted)
            await wait_for(lambda: any("已受理" in m["content"] for m in fake.custom))
            fake.clock_offset = 49 * 3600
            link = f"https://xinfang.example.gov.cn/my/cases/{number}?k=signed-for-them"
            closed = {"key": "push.closed", "tracking_no": number, "event_id": 2, "url": link}
            await push(db, "您的信访事项已办结。", closed)
            await wait_for(lambda: bool(fake.templates))
            # a 2023 template message: every keyword filled within its type, and a link
            sent = fake.templates[0]
            data = {name: entry["value"] for name, entry in sent["data"].items()}
            assert data["character_string1"] == format_tracking_no(number)
            assert data["phrase2"] == "已办结"
            assert re.fullmatch(r"\d{4}年\d{2}月\d{2}日 \d{2}:\d{2}", data["time3"])
            assert data["thing4"] and "first" not in data and "remark" not in data
            assert sent["url"] == link  # the notice's signed case page link
            # one token kept in the database, refreshed once when the 49 hours expired it
            assert fake.token_requests == 2
    finally:
        server.stop()
