"""A local fake of the WeChat Official Account API (aiohttp, 127.0.0.1 only).

It behaves like the real one where the bot depends on it: access_token issue and expiry
(a new token invalidates the previous one), customer-service messages only within 48
hours of the user's last message (45015) and at most 5 of them in those hours (45047,
since June 2023), template messages under the May 2023 rules (no first/remark, values
limited by the field's type, read off its name: thing4, phrase2, ...; client_msg_id
de-duplicates), media download, menu creation, the documented error codes, and fault
injection (slow answers, HTTP 5xx, tokens rejected, any errcode once).

Also: subscription notifications (bizsend: 40037 unknown template, 47003 a field its type
refuses, 43101 without consent, a one-time consent used by the send), the JS-SDK
jsapi_ticket, 网页授权 (the authorize redirect, as WeChat's browser follows it, and the
code exchange: 40029 invalid code, 40163 code used) and parametric QR codes (qrcode/create
and showqrcode, which answers a PNG image).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import struct
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from yarl import URL

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
    # subscription notifications: template id -> long-term (True) or one-time (False)
    subscribe_templates: dict[str, bool] = field(default_factory=dict)
    consents: dict[tuple[str, str], int] = field(default_factory=dict)  # -> one-time left
    long_consents: set[tuple[str, str]] = field(default_factory=set)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    ticket_requests: int = 0
    tickets: dict[str, float] = field(default_factory=dict)  # jsapi ticket -> expiry
    oauth_codes: dict[str, tuple[str, bool]] = field(default_factory=dict)  # -> openid, snap
    used_codes: set[str] = field(default_factory=set)
    browser_openid: str = ""  # who WeChat's browser is, for the authorize redirect
    qrcodes: dict[str, dict[str, Any]] = field(default_factory=dict)  # ticket -> request
    qr_image: bytes = b""  # what showqrcode answers (a PNG unless a test sets another)
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

    def grant(self, openid: str, template_id: str, *, long_term: bool = False) -> None:
        """The citizen accepted a template in the consent pop-up (WeChat's own record)."""
        if long_term:
            self.long_consents.add((openid, template_id))
        else:
            key = (openid, template_id)
            self.consents[key] = self.consents.get(key, 0) + 1

    def issue_code(self, openid: str, *, snapshot: bool = False) -> str:
        """A 网页授权 code for ``openid``, as the authorize redirect hands it out."""
        code = secrets.token_urlsafe(16)
        self.oauth_codes[code] = (openid, snapshot)
        return code

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
        app.router.add_post("/cgi-bin/message/subscribe/bizsend", self._bizsend)
        app.router.add_get("/cgi-bin/ticket/getticket", self._ticket)
        app.router.add_get("/sns/oauth2/access_token", self._oauth_token)
        app.router.add_get("/connect/oauth2/authorize", self._authorize)
        app.router.add_post("/cgi-bin/qrcode/create", self._qrcode)
        app.router.add_get("/cgi-bin/showqrcode", self._showqrcode)
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

    async def _bizsend(self, request: web.Request) -> web.Response:
        # read first: a slow answer models a notification carried out while the caller
        # gave up waiting (the answer is lost, the citizen is notified)
        body = await request.json()
        if (fault := await self._fault("bizsend")) is not None:
            return fault
        if (bad := self._check_token(request)) is not None:
            return bad
        openid = str(body.get("touser", ""))
        if not openid.startswith("o"):
            return _err(40003, "invalid openid")
        if openid in self.unsubscribed:
            return _err(43004, "require subscribe")
        template_id = str(body.get("template_id", ""))
        if template_id not in self.subscribe_templates:
            return _err(40037, "invalid template_id")
        if (bad := _check_template_data(body.get("data"))) is not None:
            return bad
        key = (openid, template_id)
        if key not in self.long_consents:
            if self.consents.get(key, 0) < 1:
                return _err(43101, "user refuse to accept the msg")
            self.consents[key] -= 1  # a one-time consent allows one notification
        self.subscriptions.append(body)
        msgid = 10**18 + len(self.subscriptions)
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def _ticket(self, request: web.Request) -> web.Response:
        self.ticket_requests += 1
        if (fault := await self._fault("ticket")) is not None:
            return fault
        if (bad := self._check_token(request)) is not None:
            return bad
        if request.query.get("type") != "jsapi":
            return _err(40097, "invalid args")
        ticket = secrets.token_urlsafe(32)
        self.tickets[ticket] = self.now() + self.expires_in
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": self.expires_in}
        )

    async def _oauth_token(self, request: web.Request) -> web.Response:
        if (fault := await self._fault("oauth")) is not None:
            return fault
        q = request.query
        if q.get("appid") != self.app_id or q.get("secret") != self.app_secret:
            return _err(40125, "invalid appsecret")
        if q.get("grant_type") != "authorization_code":
            return _err(40002, "invalid grant_type")
        code = q.get("code", "")
        if code in self.used_codes:
            return _err(40163, "code been used")
        found = self.oauth_codes.pop(code, None)
        if found is None:
            return _err(40029, "invalid code")
        self.used_codes.add(code)
        openid, snapshot = found
        data: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(16),
            "expires_in": 7200,
            "refresh_token": secrets.token_urlsafe(16),
            "openid": openid,
            "scope": "snsapi_base",
        }
        if snapshot:
            data["is_snapshotuser"] = 1
        return web.json_response(data)

    async def _authorize(self, request: web.Request) -> web.Response:
        """WeChat's browser at the authorize URL: straight back with a code (snsapi_base
        asks nothing), or an error page for a bad request."""
        q = request.query
        if q.get("appid") != self.app_id or q.get("scope") != "snsapi_base":
            return web.Response(status=400, text="参数错误")
        if q.get("response_type") != "code" or not self.browser_openid:
            return web.Response(status=400, text="参数错误")
        if "redirect_uri=http%3A" not in request.raw_path.replace("https%3A", "http%3A"):
            # 网页授权: redirect_uri must be urlEncoded (":" "/" "?" escaped), or
            # WeChat shows "redirect_uri 参数错误"
            return web.Response(status=400, text="redirect_uri 参数错误")
        code = self.issue_code(self.browser_openid)
        target = URL(q["redirect_uri"]).update_query(code=code, state=q.get("state", ""))
        raise web.HTTPFound(str(target))

    async def _qrcode(self, request: web.Request) -> web.Response:
        if (fault := await self._fault("qrcode")) is not None:
            return fault
        if (bad := self._check_token(request)) is not None:
            return bad
        body = await request.json()
        action = body.get("action_name")
        scene = (body.get("action_info") or {}).get("scene") or {}
        if action not in ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"):
            return _err(40097, "invalid args: action_name")
        if "STR" in action and not 1 <= len(str(scene.get("scene_str") or "")) <= 64:
            return _err(40097, "invalid args: scene_str")
        expire = body.get("expire_seconds")
        temporary = action in ("QR_SCENE", "QR_STR_SCENE")
        if temporary and not (isinstance(expire, int) and 60 <= expire <= 2592000):
            return _err(40097, "invalid args: expire_seconds")
        ticket = secrets.token_urlsafe(24)
        self.qrcodes[ticket] = body
        data: dict[str, Any] = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket[:12]}"}
        if temporary:
            data["expire_seconds"] = expire
        return web.json_response(data)

    async def _showqrcode(self, request: web.Request) -> web.Response:
        if request.query.get("ticket", "") not in self.qrcodes:
            return web.Response(status=404, text="not found")
        image = self.qr_image or tiny_png()
        mime = "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"
        return web.Response(body=image, content_type=mime)


def tiny_png() -> bytes:
    """A valid 1×1 black PNG (what the fake's QR code images are)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1×1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\x00")  # filter byte, one black pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


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
