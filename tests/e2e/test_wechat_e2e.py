"""A whole petition over WeChat in safe (AES) mode, against a running `xinfang serve`.

The server talks to the local fake WeChat API for the token, media and the
customer-service messages that carry replies too long for one passive reply.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Callable
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
from tests.channels.wechat.payloads import AES_KEY, APP_ID, TOKEN, WeChatSide, event, message
from tests.fakes_wechat import FakeWeChat
from tests.petition import ANSWERS_ZH, CONFIRM_WORD, PROMPTS, field_asked
from tests.server import Server

pytestmark = pytest.mark.e2e
OPENID = "o" + secrets.token_hex(10)


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    server = FakeWeChat(app_id=APP_ID)
    await server.start()
    yield server
    await server.stop()


class WeChatUser:
    """A citizen in the WeChat app: WeChat posts their messages, they read every answer."""

    def __init__(self, http: aiohttp.ClientSession, base: str, fake: FakeWeChat) -> None:
        self.http = http
        self.base = base
        self.fake = fake
        self.side = WeChatSide(aes=True)
        self.seen = 0
        self.clock = 0

    async def post(self, xml: str) -> str:
        self.fake.user_wrote(OPENID)  # WeChat's own record of the 48-hour window
        path, body = self.side.post(xml)
        async with self.http.post(self.base + path, data=body.encode()) as resp:
            assert resp.status == 200, await resp.text()
            text = await resp.text()
        return "" if text == "success" else self.side.reply_text(text)

    async def say(self, text: str) -> str:
        """Send a text; returns everything the citizen then reads (passive + pushed)."""
        passive = await self.post(message("text", OPENID, Content=text))
        return await self.read(passive)

    async def read(self, passive: str) -> str:
        # replies that did not fit the passive reply arrive as customer-service messages
        texts = [passive] if passive else []
        for _ in range(30):
            await asyncio.sleep(0.2)
            new = [m["content"] for m in self.fake.custom[self.seen :] if m["touser"] == OPENID]
            if new or (texts and not _wants_more(texts[-1])):
                texts.extend(new)
                self.seen = len(self.fake.custom)
                if not _wants_more(texts[-1]):
                    break
        return "\n".join(texts)


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


async def wait_for(check: Callable[[], bool], seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


def _wants_more(text: str) -> bool:
    # a read-back is long: its confirmation question comes in the last part
    return "确认提交" not in text and not any(p in text for p in PROMPTS) and "XF" not in text


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
            greeting = await user.post(event("subscribe", OPENID, EventKey=""))
            assert greeting
            last = await user.post(event("CLICK", OPENID, EventKey="XF_NEW"))
            for _ in range(40):
                if "确认提交" in last:
                    break
                field = field_asked(last)
                assert field is not None, f"unrecognised question: {last}"
                last = await user.say(ANSWERS_ZH[field])
                if field == "facts":
                    last = await user.say("完成")
            assert "确认提交" in last
            done = await user.say(CONFIRM_WORD)
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
