"""A citizen in the WeChat app, for end-to-end tests against a running `xinfang serve`:
WeChat posts what they do to the webhook (safe mode) and they read every answer."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import aiohttp

from tests.channels.wechat.payloads import WeChatSide, event, message
from tests.fakes_wechat import FakeWeChat
from tests.petition import ANSWERS_ZH, CONFIRM_WORD, PROMPTS, field_asked

OPENID = "o" + secrets.token_hex(10)


class WeChatUser:
    """A citizen in the WeChat app: WeChat posts their messages, they read every answer."""

    def __init__(
        self, http: aiohttp.ClientSession, base: str, fake: FakeWeChat, openid: str = OPENID
    ) -> None:
        self.http = http
        self.base = base
        self.fake = fake
        self.openid = openid
        self.side = WeChatSide(aes=True)
        self.seen = 0
        self.clock = 0

    async def post(self, xml: str, *, opens_window: bool = True) -> str:
        """Post one message or event; ``opens_window``: WeChat counts it as the user's
        message (the 48-hour window; a consent report does not)."""
        if opens_window:
            self.fake.user_wrote(self.openid)  # WeChat's own record of the 48-hour window
        path, body = self.side.post(xml)
        async with self.http.post(self.base + path, data=body.encode()) as resp:
            assert resp.status == 200, await resp.text()
            text = await resp.text()
        return "" if text == "success" else self.side.reply_text(text)

    async def say(self, text: str) -> str:
        """Send a text; returns everything the citizen then reads (passive + pushed)."""
        passive = await self.post(message("text", self.openid, Content=text))
        return await self.read(passive)

    async def read(self, passive: str) -> str:
        """The passive reply and the customer-service messages that follow it."""
        # replies that did not fit the passive reply arrive as customer-service messages
        texts = [passive] if passive else []
        for _ in range(30):
            await asyncio.sleep(0.2)
            mine = [m for m in self.fake.custom[self.seen :] if m["touser"] == self.openid]
            new = [m["content"] for m in mine]
            if new or (texts and not _wants_more(texts[-1])):
                texts.extend(new)
                self.seen = len(self.fake.custom)
                if not _wants_more(texts[-1]):
                    break
        return "\n".join(texts)

    async def file_petition(self) -> str:
        """Follow, tap 新建投诉, answer every question and confirm; the confirmation."""
        assert await self.post(event("subscribe", self.openid, EventKey=""))  # the greeting
        last = await self.post(event("CLICK", self.openid, EventKey="XF_NEW"))
        for _ in range(40):
            if "确认提交" in last:
                break
            field = field_asked(last)
            assert field is not None, f"unrecognised question: {last}"
            last = await self.say(ANSWERS_ZH[field])
            if field == "facts":
                last = await self.say("完成")
        assert "确认提交" in last
        return await self.say(CONFIRM_WORD)


async def wait_for(check: Callable[[], bool], seconds: float = 15.0) -> None:
    """Wait until ``check()`` holds, else fail."""
    for _ in range(int(seconds / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


def _wants_more(text: str) -> bool:
    # a read-back is long: its confirmation question comes in the last part
    return "确认提交" not in text and not any(p in text for p in PROMPTS) and "XF" not in text
