"""A local fake of the WeChat Official Account API (aiohttp, 127.0.0.1 only).

It behaves like the real one where the bot depends on it: access_token issue and expiry
(a new token invalidates the previous one), customer-service messages only within 48
hours of the user's last message (45015) and at most 5 of them in those hours (45047,
since June 2023), template messages under the May 2023 rules (no first/remark, values
limited by the field's type, read off its name: thing4, phrase2, ...; client_msg_id
de-duplicates), media download, menu creation, the documented error codes, and fault
injection (slow answers, HTTP 5xx, tokens rejected, any errcode once).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

WINDOW_SECONDS = 48 * 3600
TEXT_LIMIT_BYTES = 2048
CUSTOM_QUOTA = 5  # customer-service messages per user message, within the 48 hours
# template keyword types and what each accepts since May 2023 (written apart from the bot's
# own checks, so that a mistake there is caught here)
FIELD_RULES: dict[str, re.Pattern[str]] = {
    "thing": re.compile(r"^.{1,20}$"),
    "phrase": re.compile(r"^[\u4e00-\u9fff]{1,5}$"),
    "character_string": re.compile(r"^[0-9A-Za-z!-/:-@\[-`{-~]{1,32}$"),
    "time": re.compile(r"^(\d{4}年\d{1,2}月\d{1,2}日( \d{1,2}:\d{2})?|\d{1,2}:\d{2})$"),
    "number": re.compile(r"^\d{1,32}(\.\d+)?$"),
    "letter": re.compile(r"^[A-Za-z]{1,32}$"),
    "phone_number": re.compile(r"^[\d+\-() ]{1,17}$"),
}


@dataclass
class Fault:
    """One injected failure for the next call to ``path`` ("*" = any path)."""

    path: str
    kind: str  # "slow" | "5xx" | "errcode"
    seconds: float = 0.0
    errcode: int = 0


@dataclass
class FakeWeChat:
    """The fake API server; start() binds 127.0.0.1 on a free port."""

    app_id: str = "wx-fake-app"
    app_secret: str = "fake-secret"
    template_id: str = "TPL-STATUS"
    expires_in: int = 7200
    token_requests: int = 0
    clock_offset: float = 0.0  # seconds added to the real clock (48-hour window tests)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (fake clock)
    last_inbound: dict[str, float] = field(default_factory=dict)  # openid -> fake time
    unsubscribed: set[str] = field(default_factory=set)
    custom: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    custom_since: dict[str, int] = field(default_factory=dict)  # openid -> sent since last msg
    client_msg_ids: dict[tuple[str, str], int] = field(default_factory=dict)  # -> msgid
    menus: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, tuple[bytes, str, str]] = field(default_factory=dict)
    faults: deque[Fault] = field(default_factory=deque)
    url: str = ""
    _runner: web.AppRunner | None = None

    def now(self) -> float:
        """The fake's clock."""
        return time.time() + self.clock_offset

    # -- test controls --

    def user_wrote(self, openid: str, ago_seconds: float = 0.0) -> None:
        """Tell the fake a user sent a message (opens the 48-hour window, resets the quota)."""
        self.last_inbound[openid] = self.now() - ago_seconds
        self.custom_since[openid] = 0

    def revoke_tokens(self) -> None:
        """Make every issued token invalid (40001), e.g. a refresh elsewhere."""
        self.tokens.clear()

    def inject(self, kind: str, path: str = "*", *, seconds: float = 0.0, errcode: int = 0) -> None:
        """Fail the next matching call: slow, 5xx or an errcode."""
        self.faults.append(Fault(path, kind, seconds, errcode))

    def add_media(self, media_id: str, data: bytes, mime: str, filename: str) -> None:
        """A media file the user sent, downloadable with media/get."""
        self.media[media_id] = (data, mime, filename)

    # -- server --

    async def start(self) -> str:
        """Serve on 127.0.0.1; returns the base URL."""
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom)
        app.router.add_post("/cgi-bin/message/template/send", self._template)
        app.router.add_get("/cgi-bin/media/get", self._media)
        app.router.add_post("/cgi-bin/menu/create", self._menu)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _fault(self, path: str) -> web.Response | None:
        for fault in list(self.faults):
            if fault.path in ("*", path):
                self.faults.remove(fault)
                if fault.kind == "slow":
                    await asyncio.sleep(fault.seconds)
                    return None
                if fault.kind == "5xx":
                    return web.Response(status=502, text="bad gateway")
                return _err(fault.errcode, "injected")
        return None

    def _check_token(self, request: web.Request) -> web.Response | None:
        token = request.query.get("access_token", "")
        if not token:
            return _err(41001, "access_token missing")
        expiry = self.tokens.get(token)
        if expiry is None:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        if expiry <= self.now():
            return _err(42001, "access_token expired")
        return None

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if (fault := await self._fault("token")) is not None:
            return fault
        q = request.query
        if q.get("grant_type") != "client_credential":
            return _err(40002, "invalid grant_type")
        if q.get("appid") != self.app_id:
            return _err(40013, "invalid appid")
        if q.get("secret") != self.app_secret:
            return _err(40125, "invalid appsecret")
        token = secrets.token_urlsafe(24)
        self.tokens = {token: self.now() + self.expires_in}  # the old token stops working
        return web.json_response({"access_token": token, "expires_in": self.expires_in})

    async def _custom(self, request: web.Request) -> web.Response:
        if (fault := await self._fault("custom")) is not None:
            return fault
        if (bad := self._check_token(request)) is not None:
            return bad
        body = await request.json()
        openid = str(body.get("touser", ""))
        if not openid.startswith("o"):
            return _err(40003, "invalid openid")
        if openid in self.unsubscribed:
            return _err(43004, "require subscribe")
        last = self.last_inbound.get(openid)
        if last is None or self.now() - last > WINDOW_SECONDS:
            return _err(45015, "response out of time limit or subscription is canceled")
        if self.custom_since.get(openid, 0) >= CUSTOM_QUOTA:
            return _err(45047, "out of response count limit")
        if body.get("msgtype") != "text":
            return _err(40008, "invalid message type")
        content = str(body.get("text", {}).get("content", ""))
        if len(content.encode("utf-8")) > TEXT_LIMIT_BYTES:
            return _err(45002, "content size out of limit")
        self.custom.append({"touser": openid, "content": content})
        self.custom_since[openid] = self.custom_since.get(openid, 0) + 1
        return _err(0, "ok")

    async def _template(self, request: web.Request) -> web.Response:
        if (fault := await self._fault("template")) is not None:
            return fault
        if (bad := self._check_token(request)) is not None:
            return bad
        body = await request.json()
        openid = str(body.get("touser", ""))
        if openid in self.unsubscribed:
            return _err(43004, "require subscribe")
        if body.get("template_id") != self.template_id:
            return _err(40037, "invalid template_id")
        if (bad := _check_template_data(body.get("data"))) is not None:
            return bad
        client_msg_id = str(body.get("client_msg_id") or "")
        if (openid, client_msg_id) in self.client_msg_ids:  # a resend: delivered once
            msgid = self.client_msg_ids[(openid, client_msg_id)]
            return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})
        self.templates.append(body)
        if client_msg_id:
            self.client_msg_ids[(openid, client_msg_id)] = len(self.templates)
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": len(self.templates)})

    async def _media(self, request: web.Request) -> web.StreamResponse:
        if (fault := await self._fault("media")) is not None:
            return fault
        if (bad := self._check_token(request)) is not None:
            return bad
        found = self.media.get(request.query.get("media_id", ""))
        if found is None:
            return _err(40007, "invalid media_id")
        data, mime, filename = found
        return web.Response(
            body=data,
            content_type=mime,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def _menu(self, request: web.Request) -> web.Response:
        if (fault := await self._fault("menu")) is not None:
            return fault
        if (bad := self._check_token(request)) is not None:
            return bad
        body = await request.json()
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return _err(40016, "invalid button size")
        self.menus.append(body)
        return _err(0, "ok")


def _check_template_data(data: Any) -> web.Response | None:
    """The May 2023 field rules: 47003 for a removed field or a value its type refuses."""
    if not isinstance(data, dict) or not data:
        return _err(47003, "argument invalid! data is empty")
    for name, entry in data.items():
        if name in ("first", "remark"):
            return _err(47003, f"argument invalid! data.{name} is not a template keyword")
        rule = FIELD_RULES.get(name.rstrip("0123456789"))
        if rule is None:
            return _err(47003, f"argument invalid! data.{name} unknown keyword")
        if not rule.match(str((entry or {}).get("value", ""))):
            return _err(47003, f"argument invalid! data.{name}.value invalid")
    return None


def _err(errcode: int, errmsg: str) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg})
