"""Web chat: a page served by the bot, a cookie session, JSON messages and an SSE push stream.

Contract (used by bot/web/static/chat.js):
  GET  /chat                   page; sets the session cookie
  GET  /chat/api/history       {"lang", "messages": [{id, direction, text, choices, at}]}
  POST /chat/api/messages      {"client_id", "text"} -> {"replies": [...]}
  POST /chat/api/attachments   multipart client_id + file -> {"replies": [...]}
  GET  /chat/api/events        text/event-stream of pushes, resumable with Last-Event-ID
  GET  /chat/my                to the citizen's case page (/my) as this session's contact
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import re
import secrets
import time
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from bot import safe_json
from bot.channels.mailbox import MailboxChannel
from bot.channels.spec import ChannelSpec
from bot.clock import utc_now
from bot.intake import Intake, IntakeResult
from bot.logging import get_logger
from bot.messages import Address, Attachment, Capabilities, InboundMessage, Reply
from bot.metrics import REJECTED_REQUESTS
from bot.storage import contacts, inbound, outbox
from bot.storage.db import Database
from bot.storage.files import TooLarge, remove, save_stream
from bot.uploads import ACCEPTED_TYPES, file_refusal, refusal_text
from bot.web.citizen_access import CITIZEN_ACCESS, CitizenAccess
from bot.web.citizen_access import PREFIX as CITIZEN_PREFIX
from bot.web.security import SECURITY_HEADERS

log = get_logger(__name__)

NAME = "web"
CAPABILITIES = Capabilities(
    buttons=True,
    max_text_len=5000,
    attachments=("image", "voice", "file"),
    location=False,
    push=True,
)
COOKIE = "xf_chat"
COOKIE_MAX_AGE = 90 * 24 * 3600
STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_PUSH_ID = re.compile(r"^push-(\d{1,18})$")  # an outbox id: a 64-bit integer at most
KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 2.0
REPLAY_ON_CONNECT = 20
STREAMS_PER_SESSION = 3  # open event streams (tabs) of one session …
STREAMS_PER_CLIENT = 20  # … and of one client address; 429 beyond (each polls the database)


_dumps = functools.partial(json.dumps, ensure_ascii=False)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=_dumps)


def _error(status: int, zh: str, en: str, reason: str) -> web.Response:
    REJECTED_REQUESTS.labels(NAME, reason).inc()
    return _json({"error": f"{zh} / {en}", "reason": reason}, status=status)


class WebChat:
    """The web chat channel: HTTP handlers in, mailbox delivery out."""

    def __init__(
        self,
        intake: Intake,
        db: Database,
        mailbox: MailboxChannel,
        *,
        attachments_dir: Path,
        max_text_len: int = 5000,
        max_upload_bytes: int = 10 * 1_048_576,
        cookie_secure: bool = False,
        rate_per_minute: int = 60,
        rate_per_ip_per_minute: int = 300,
        citizen_access: CitizenAccess | None = None,
    ) -> None:
        self.intake = intake
        self.db = db
        self.mailbox = mailbox
        self.attachments_dir = attachments_dir
        self.max_text_len = max_text_len
        self.max_upload_bytes = max_upload_bytes
        self.cookie_secure = cookie_secure
        self.rate_per_minute = rate_per_minute
        self.rate_per_ip_per_minute = rate_per_ip_per_minute
        self.citizen_access = citizen_access
        self._recent: defaultdict[str, deque[float]] = defaultdict(deque)
        self._streams: Counter[str] = Counter()  # open event streams per session and client
        self.stopping = asyncio.Event()

    def add_routes(self, app: web.Application) -> None:
        """Mount the page, its assets and its API."""
        app.router.add_get("/chat", self.page)
        app.router.add_get("/chat/", self.page)
        app.router.add_static("/chat/static", STATIC_DIR, append_version=False)
        app.router.add_get("/chat/api/history", self.history)
        app.router.add_post("/chat/api/messages", self.post_message)
        app.router.add_post("/chat/api/attachments", self.post_attachment)
        app.router.add_get("/chat/api/events", self.events)
        app.router.add_get("/chat/my", self.my_cases)

    # -- session -----------------------------------------------------------------------

    @staticmethod
    def _address(token: str) -> str:
        # the database keeps a hash: a leaked table does not hand out live sessions
        return hashlib.sha256(token.encode()).hexdigest()[:40]

    def _session(self, request: web.Request) -> str | None:
        token = request.cookies.get(COOKIE, "")
        if not (20 <= len(token) <= 100):
            return None
        return self._address(token)

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser cross-site request (SameSite=Lax covers navigations)
        return origin.split("://", 1)[-1] == request.host

    def _throttled(self, request: web.Request, address: str) -> bool:
        # per session, and per client address: fresh cookies must not reset the limit
        # (status look-ups by number are throttled per conversation by the engine)
        keys = (
            (address, self.rate_per_minute),
            (f"ip:{request.remote}", self.rate_per_ip_per_minute),
        )
        now = time.monotonic()
        for key, limit in keys:
            recent = self._recent[key]
            while recent and now - recent[0] > 60:
                recent.popleft()
            if len(recent) >= limit:
                return True
        for key, _ in keys:
            self._recent[key].append(now)
        if len(self._recent) > 100_000:  # forget idle keys so memory stays bounded
            for key in [k for k, q in self._recent.items() if not q or now - q[-1] > 60]:
                del self._recent[key]
        return False

    # -- handlers ----------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        """The chat page; starts a session when the browser has none."""
        response = web.FileResponse(STATIC_DIR / "chat.html", headers=SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        if self._session(request) is None:
            response.set_cookie(
                COOKIE,
                secrets.token_urlsafe(32),
                max_age=COOKIE_MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=self.cookie_secure,
                path="/chat",
            )
        return response

    async def my_cases(self, request: web.Request) -> web.Response:
        """To the citizen's case page (/my), with a session for this chat's contact."""
        response = web.HTTPSeeOther(CITIZEN_PREFIX)
        address = self._session(request)
        if address is not None and self.citizen_access is not None:
            # a session that has not written yet is a contact with no case: the page says so
            async with self.db.transaction() as conn:
                contact = await contacts.get_or_create(conn, Address(NAME, address), utc_now())
            access = self.citizen_access
            access.set_cookie(response, access.open(contact.id))
        raise response

    async def history(self, request: web.Request) -> web.Response:
        """The conversation so far, oldest first (citizen messages, replies and pushes)."""
        address = self._session(request)
        if address is None:
            return _error(401, "会话已失效，请刷新页面", "Session expired, reload", "no_session")
        async with self.db.read() as conn:
            contact = await contacts.find(conn, Address(NAME, address))
            if contact is None:
                return _json({"lang": "zh", "messages": []})
            sent = await inbound.for_contact(conn, contact.id)
            pushed = await outbox.delivered_to(conn, contact.id)
        items: list[tuple[str, dict[str, Any]]] = []
        for row in sent:
            at = row.received_at.isoformat()
            text = row.text or _attachment_label(row.meta)
            items.append((at, _msg(f"in-{row.id}", "in", Reply(text), at)))
            if row.reply_mode == "direct":
                for i, reply in enumerate(row.replies or []):
                    items.append((at, _msg(f"re-{row.id}-{i}", "out", Reply.from_json(reply), at)))
        for row in pushed:
            at = (row.sent_at or row.created_at).isoformat()
            items.append((at, _msg(f"push-{row.id}", "out", Reply.from_json(row.payload), at)))
        items.sort(key=lambda item: item[0])  # stable: a message stays before its replies
        return _json({"lang": contact.lang, "messages": [m for _, m in items]})

    async def post_message(self, request: web.Request) -> web.Response:
        """A text the citizen typed or a choice they tapped."""
        address = self._session(request)
        if address is None:
            return _error(401, "会话已失效，请刷新页面", "Session expired, reload", "no_session")
        if not self._same_origin(request):
            return _error(403, "来源不被允许", "Cross-site request refused", "origin")
        if request.content_type != "application/json":
            return _error(415, "请求格式错误", "Expected JSON", "content_type")
        try:
            body = safe_json.loads(await request.read())
        except safe_json.BadJson:
            return _error(400, "请求格式错误", "Malformed JSON", "malformed")
        if not isinstance(body, dict):
            return _error(400, "请求格式错误", "Malformed JSON", "malformed")
        client_id, text = body.get("client_id"), body.get("text")
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            return _error(400, "消息编号无效", "Invalid client_id", "client_id")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "消息不能为空", "Empty message", "empty")
        if len(text) > self.max_text_len:
            return _error(
                413,
                f"消息过长：每条最多 {self.max_text_len} 字，可分几条发送",
                f"Message too long: at most {self.max_text_len} characters, send it in parts",
                "too_long",
            )
        if self._throttled(request, address):
            return _error(429, "发送太频繁，请稍后再试", "Too many messages, wait a moment", "rate")
        msg = InboundMessage(
            address=Address(NAME, address),
            external_id=_external_id(address, client_id),
            received_at=utc_now(),
            text=text,
            client=request.remote or "",
            # the browser's first language picks the conversation's first language
            lang_hint=request.headers.get("Accept-Language", "")[:2].lower(),
        )
        return self._replies(await self.intake.handle(msg))

    async def post_attachment(self, request: web.Request) -> web.Response:
        """A photo, recording or document the citizen attached."""
        address = self._session(request)
        if address is None:
            return _error(401, "会话已失效，请刷新页面", "Session expired, reload", "no_session")
        if not self._same_origin(request):
            return _error(403, "来源不被允许", "Cross-site request refused", "origin")
        if self._throttled(request, address):
            return _error(429, "发送太频繁，请稍后再试", "Too many messages, wait a moment", "rate")
        try:
            reader = await request.multipart()
        except (AssertionError, ValueError, KeyError):
            return _error(400, "请求格式错误", "Expected multipart form data", "malformed")
        # checked before anything is written: a file the dialog cannot keep (no draft and
        # no open case to add it to, or a cap reached) never reaches the disk
        refusal = await file_refusal(self.db, self.intake.engine, Address(NAME, address), utc_now())
        if refusal:
            engine = self.intake.engine
            return _error(
                409,
                refusal_text(engine, "zh", refusal),
                refusal_text(engine, "en", refusal),
                refusal.rsplit(".", 1)[-1],
            )
        saved: list[str] = []  # written files: removed again unless intake keeps one
        try:
            read = await self._read_upload(reader, saved)
            if isinstance(read, web.Response):
                return read
            client_id, attachment = read
            if attachment is None or not _CLIENT_ID.match(client_id):
                return _error(400, "缺少文件或编号", "Missing file or client_id", "malformed")
            msg = InboundMessage(
                address=Address(NAME, address),
                external_id=_external_id(address, client_id),
                received_at=utc_now(),
                attachment=attachment,
                client=request.remote or "",
            )
            result = await self.intake.handle(msg)
            if not result.duplicate:
                saved.clear()  # intake has it: kept with the draft, or deleted by intake
            return self._replies(result)
        except HttpProcessingError:
            return _error(400, "请求格式错误", "Malformed multipart body", "malformed")
        finally:
            for key in saved:
                remove(self.attachments_dir, key)

    async def _read_upload(
        self, reader: MultipartReader, saved: list[str]
    ) -> tuple[str, Attachment | None] | web.Response:
        """The client id and the (first) file of an upload; the file is written to disk
        and its key added to ``saved``. A response when the upload is refused."""
        client_id = ""
        attachment: Attachment | None = None
        part = await reader.next()
        while part is not None:
            if not isinstance(part, BodyPartReader):
                return _error(400, "请求格式错误", "Nested multipart refused", "malformed")
            if part.name == "client_id":
                client_id = (await part.text())[:100]
            elif part.name == "file" and attachment is None:
                if "\x00" in (part.filename or ""):
                    return _error(400, "文件名无效", "Invalid file name", "nul_byte")
                mime = part.headers.get("Content-Type", "application/octet-stream").lower()
                if not mime.startswith(ACCEPTED_TYPES):
                    return _error(
                        415, "不支持此类文件", "This kind of file is not accepted", "file_type"
                    )
                try:
                    key, size = await save_stream(
                        self.attachments_dir,
                        part.filename or "file",
                        _chunks(part),
                        self.max_upload_bytes,
                        utc_now(),
                    )
                except TooLarge:
                    mb = self.max_upload_bytes // 1_048_576
                    return _error(
                        413, f"文件过大（最大 {mb} MB）", f"File too large (max {mb} MB)", "too_big"
                    )
                saved.append(key)
                attachment = Attachment(
                    kind=_kind(mime),
                    media_ref=key,
                    mime=mime,
                    filename=(part.filename or "file")[:200],
                    size=size,
                )
            part = await reader.next()
        return client_id, attachment

    def _replies(self, result: IntakeResult) -> web.Response:
        at = utc_now().isoformat()
        replies = [
            _msg(f"re-{result.inbound_id}-{i}", "out", reply, at)
            for i, reply in enumerate(result.replies if result.direct else [])
        ]
        return _json({"replies": replies})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: every message delivered to this session, live."""
        address = self._session(request)
        if address is None:
            return _error(401, "会话已失效，请刷新页面", "Session expired, reload", "no_session")
        last = request.headers.get("Last-Event-ID") or request.query.get("after", "")
        m = _PUSH_ID.match(last)
        after = int(m.group(1)) if m else -1
        keys = (address, f"ip:{request.remote}")
        if (
            self._streams[keys[0]] >= STREAMS_PER_SESSION
            or self._streams[keys[1]] >= STREAMS_PER_CLIENT
        ):
            return _error(429, "打开的页面过多，请关闭一些", "Too many open chat tabs", "streams")
        self._streams.update(keys)
        try:
            return await self._stream(request, address, after)
        finally:
            self._streams.subtract(keys)
            for key in keys:
                if self._streams[key] <= 0:
                    del self._streams[key]

    async def _stream(self, request: web.Request, address: str, after: int) -> web.StreamResponse:
        """The event stream itself, until the client leaves or the server stops."""
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
            }
        )
        await response.prepare(request)
        wake = self.mailbox.subscribe(address)
        try:
            if after < 0:  # a fresh stream replays the latest few; the page dedupes by id
                after = await self._replay_from(address)
            idle = 0.0
            while not self.stopping.is_set():
                after, sent = await self._send_new(response, address, after)
                idle = 0.0 if sent else idle + POLL_SECONDS
                if idle >= KEEPALIVE_SECONDS:
                    await response.write(b": keepalive\n\n")
                    idle = 0.0
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=POLL_SECONDS)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.mailbox.unsubscribe(address, wake)
        return response

    async def _replay_from(self, address: str) -> int:
        # the page loaded its history just before: replaying the last few pushes closes
        # the gap between that read and this stream without resending a long history
        async with self.db.read() as conn:
            contact = await contacts.find(conn, Address(NAME, address))
            if contact is None:
                return 0
            return await outbox.delivered_before_last(conn, contact.id, REPLAY_ON_CONNECT)

    async def _send_new(
        self, response: web.StreamResponse, address: str, after: int
    ) -> tuple[int, bool]:
        async with self.db.read() as conn:
            contact = await contacts.find(conn, Address(NAME, address))
            rows = await outbox.delivered_to(conn, contact.id, after) if contact else []
        for row in rows:
            at = (row.sent_at or row.created_at).isoformat()
            data = json.dumps(
                _msg(f"push-{row.id}", "out", Reply.from_json(row.payload), at),
                ensure_ascii=False,
            )
            await response.write(f"id: push-{row.id}\nevent: message\ndata: {data}\n\n".encode())
            after = row.id
        return after, bool(rows)


def _external_id(address: str, client_id: str) -> str:
    # scoped to the session: another session reusing a client_id cannot read our replies
    return hashlib.sha256(f"{address}:{client_id}".encode()).hexdigest()[:48]


def _msg(msg_id: str, direction: str, reply: Reply, at: str) -> dict[str, Any]:
    return {
        "id": msg_id,
        "direction": direction,
        "text": reply.text,
        "choices": [[c.value, c.label] for c in reply.choices],
        "at": at,
    }


def _attachment_label(meta: dict[str, Any] | None) -> str:
    att = (meta or {}).get("attachment") or {}
    return f"📎 {att.get('filename') or att.get('kind') or ''}".strip()


def _kind(mime: str) -> str:
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("audio/"):
        return "voice"
    if mime.startswith("video/"):
        return "video"
    return "file"


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(65536):
        yield chunk


# -- registry hooks --------------------------------------------------------------------


def build(_settings: Any, _db: Database) -> MailboxChannel:
    """The outbound side: a mailbox the open chat page reads."""
    return MailboxChannel(NAME, CAPABILITIES)


def install(app: web.Application, services: Any) -> None:
    """Mount /chat; open event streams end as soon as the server starts stopping."""
    s = services.settings
    chat = WebChat(
        services.intake,
        services.db,
        services.mailboxes[NAME],
        attachments_dir=s.attachments_dir,
        max_text_len=s.max_text_len,
        max_upload_bytes=s.max_upload_bytes,
        cookie_secure=s.web_cookie_secure,
        rate_per_minute=s.web_rate_per_minute,
        rate_per_ip_per_minute=s.web_rate_per_ip_per_minute,
        citizen_access=app.get(CITIZEN_ACCESS),
    )
    chat.add_routes(app)
    app[WEB_CHAT] = chat

    async def stop(_app: web.Application) -> None:
        # before aiohttp waits for in-flight requests: open event streams end now instead
        # of holding the shutdown for its whole timeout
        chat.stopping.set()

    app.on_shutdown.insert(0, stop)
    app.on_cleanup.append(stop)


WEB_CHAT = web.AppKey("web_chat", WebChat)
SPEC = ChannelSpec(
    name=NAME,
    labels=("网上", "Web chat"),  # 网上信访
    capabilities=CAPABILITIES,
    build=build,
    install=install,
    mailbox=True,
)
