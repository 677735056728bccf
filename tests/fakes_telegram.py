"""A local fake of the Telegram Bot API (aiohttp, 127.0.0.1) that behaves like the real one.

- Methods: getMe, sendMessage, editMessageReplyMarkup, answerCallbackQuery, getFile (and
  the file download under /file/bot<token>/<path>), getUpdates (long poll over a queue,
  offset confirms), setWebhook, deleteWebhook, getWebhookInfo, setMyCommands.
- Parameters are read the way Telegram reads them: JSON body or form fields (complex
  values JSON-encoded, as python-telegram-bot sends them).
- Limits: about ``global_rate`` messages per second for the bot and one per
  ``chat_interval`` seconds per chat; exceeding them answers 429 with
  ``parameters.retry_after``. A small ``slack`` absorbs network jitter (Telegram's own
  limits are approximate, https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
- Text over 4096 characters and callback_data over 64 bytes are refused with 400, as Telegram does.
- Failure injection per chat: ``block(chat)`` (403 "bot was blocked by the user"),
  ``fail(chat, "400"|"5xx"|"timeout"|"429", times=, retry_after=)``.
- Every call is recorded in ``calls`` (method, params, monotonic time).
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-token"
JSON_FIELDS = {"reply_markup", "allowed_updates", "commands", "scope"}
INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout"}
SEND_METHODS = {"sendMessage", "editMessageReplyMarkup"}


@dataclass
class Call:
    """One recorded Bot API call."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class _Injected:
    kind: str  # "400" | "5xx" | "timeout" | "429"
    times: int | None
    retry_after: int = 1


@dataclass
class FakeTelegram:
    """The fake server's state and handlers; ``start()`` binds it to a free local port."""

    token: str = TOKEN
    global_rate: float = 30.0
    chat_interval: float = 1.0
    slack: float = 0.15  # fraction of tolerance on both limits
    timeout_seconds: float = 15.0  # how long an injected timeout hangs
    calls: list[Call] = field(default_factory=list)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # file_id -> (data, path)
    webhook: dict[str, Any] = field(default_factory=dict)
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    global_hold_until: float = 0.0

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        self._recent: deque[float] = deque()
        self._chat_last: dict[int, float] = {}
        self._injected: dict[int, _Injected] = {}
        self._message_id = 1000
        self.markups: dict[tuple[int, int], Any] = {}
        self.runner: web.AppRunner | None = None
        self._closing = False
        self.url = ""

    # -- control ---------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on 127.0.0.1; returns the API base URL (as XINFANG_TELEGRAM_API_BASE)."""
        app = web.Application(client_max_size=60 * 1_048_576)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        app.router.add_get("/_fake/stats", self._stats)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        """Shut the server down."""
        self._closing = True
        self._new_update.set()  # release long polls in flight
        if self.runner is not None:
            await self.runner.cleanup()

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates."""
        self._updates.append(update)
        self._new_update.set()

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by an offset."""
        return list(self._updates)

    def add_file(self, file_id: str, data: bytes, path: str = "") -> None:
        """Make a file available through getFile."""
        self.files[file_id] = (data, path or f"documents/{file_id}.bin")

    def block(self, chat_id: int) -> None:
        """The citizen blocked the bot: sends to the chat answer 403."""
        self.blocked.add(chat_id)

    def fail(self, chat_id: int, kind: str, *, times: int | None = 1, retry_after: int = 1) -> None:
        """Inject failures for sends to one chat."""
        self._injected[chat_id] = _Injected(kind, times, retry_after)

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Successful sendMessage calls (to one chat)."""
        return [
            c
            for c in self.calls
            if c.method == "sendMessage"
            and c.status == 200
            and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def statuses(self, status: int) -> list[Call]:
        """Calls answered with this HTTP status."""
        return [c for c in self.calls if c.status == status]

    def stats(self) -> dict[str, Any]:
        """Counts a benchmark in another process needs: sends, refusals, duplicates, timing."""
        sent = self.sent()
        per_chat: dict[Any, int] = {}
        for call in sent:
            chat = call.params.get("chat_id")
            per_chat[chat] = per_chat.get(chat, 0) + 1
        return {
            "sent": len(sent),
            "status_429": len(self.statuses(429)),
            "calls": len(self.calls),
            "duplicates": sum(n - 1 for n in per_chat.values() if n > 1),
            "first_at": sent[0].at if sent else 0.0,
            "last_at": sent[-1].at if sent else 0.0,
            "sent_at": [round(c.at, 4) for c in sent],
        }

    # -- HTTP ------------------------------------------------------------------------

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if not isinstance(value, str):
                    continue
                params[key] = json.loads(value) if key in JSON_FIELDS else value
        for key in INT_FIELDS & params.keys():
            if isinstance(params[key], str) and params[key].lstrip("-").isdigit():
                params[key] = int(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params, time.monotonic())
        self.calls.append(call)
        if request.match_info["token"] != self.token:
            return self._error(call, 401, "Unauthorized")
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._error(call, 404, "Not Found")
        response: web.Response = await handler(call)
        return response

    def _ok(self, result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    def _error(
        self, call: Call, code: int, description: str, retry_after: int | None = None
    ) -> web.Response:
        call.status = code
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=code)

    async def _limited(self, call: Call) -> web.Response | None:
        """Failure injection and rate limits for message-sending calls."""
        chat_id = call.params.get("chat_id")
        if not isinstance(chat_id, int):
            return self._error(call, 400, "Bad Request: chat_id is empty")
        if chat_id in self.blocked:
            return self._error(call, 403, "Forbidden: bot was blocked by the user")
        injected = self._injected.get(chat_id)
        if injected is not None and injected.times != 0:
            if injected.times is not None:
                injected.times -= 1
            if injected.kind == "400":
                return self._error(call, 400, "Bad Request: chat not found")
            if injected.kind == "5xx":
                return self._error(call, 502, "Bad Gateway")
            if injected.kind == "timeout":
                await asyncio.sleep(self.timeout_seconds)
                return self._error(call, 504, "Gateway Timeout")
            if injected.kind == "429":
                return self._error(
                    call,
                    429,
                    f"Too Many Requests: retry after {injected.retry_after}",
                    injected.retry_after,
                )
        now = call.at
        if now < self.global_hold_until:
            wait = math.ceil(self.global_hold_until - now)
            return self._error(call, 429, f"Too Many Requests: retry after {wait}", wait)
        window = 1.0 * (1 - self.slack)
        while self._recent and now - self._recent[0] > window:
            self._recent.popleft()
        if len(self._recent) >= self.global_rate:
            return self._error(call, 429, "Too Many Requests: retry after 1", 1)
        last = self._chat_last.get(chat_id)
        if last is not None and now - last < self.chat_interval * (1 - self.slack):
            wait = max(1, math.ceil(self.chat_interval - (now - last)))
            return self._error(call, 429, f"Too Many Requests: retry after {wait}", wait)
        self._recent.append(now)
        self._chat_last[chat_id] = now
        return None

    async def _m_getMe(self, call: Call) -> web.Response:
        return self._ok(
            {"id": 123456, "is_bot": True, "first_name": "信访助手", "username": "xinfang_test_bot"}
        )

    async def _m_sendMessage(self, call: Call) -> web.Response:
        refused = await self._limited(call)
        if refused is not None:
            return refused
        text = str(call.params.get("text", ""))
        if not text.strip():
            return self._error(call, 400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return self._error(call, 400, "Bad Request: message is too long")
        markup = call.params.get("reply_markup")
        if markup:
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if len(str(button.get("callback_data", "")).encode()) > 64:
                        return self._error(call, 400, "Bad Request: BUTTON_DATA_INVALID")
        self._message_id += 1
        chat_id = call.params["chat_id"]
        if markup:
            self.markups[(chat_id, self._message_id)] = markup
        return self._ok(
            {
                "message_id": self._message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "text": text,
            }
        )

    async def _m_editMessageReplyMarkup(self, call: Call) -> web.Response:
        refused = await self._limited(call)
        if refused is not None:
            return refused
        key = (call.params["chat_id"], int(call.params.get("message_id", 0)))
        if key not in self.markups:
            return self._error(call, 400, "Bad Request: message is not modified")
        del self.markups[key]
        return self._ok(True)

    async def _m_answerCallbackQuery(self, call: Call) -> web.Response:
        return self._ok(True)

    async def _m_getFile(self, call: Call) -> web.Response:
        file_id = str(call.params.get("file_id", ""))
        if file_id not in self.files:
            return self._error(call, 400, "Bad Request: invalid file_id")
        data, path = self.files[file_id]
        if len(data) > 20 * 1_048_576:
            return self._error(call, 400, "Bad Request: file is too big")
        return self._ok(
            {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(data),
                "file_path": path,
            }
        )

    async def _file(self, request: web.Request) -> web.Response:
        self.calls.append(Call("download", {"path": request.match_info["path"]}, time.monotonic()))
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for data, path in self.files.values():
            if path == request.match_info["path"]:
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404)

    async def _m_getUpdates(self, call: Call) -> web.Response:
        if self.webhook.get("url"):
            return self._error(
                call, 409, "Conflict: can't use getUpdates method while webhook is active"
            )
        offset = call.params.get("offset")
        if isinstance(offset, int):
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = float(call.params.get("timeout", 0) or 0)
        deadline = time.monotonic() + timeout
        while not self._updates and not self._closing and time.monotonic() < deadline:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        limit = int(call.params.get("limit", 100) or 100)
        return self._ok(self._updates[:limit])

    async def _m_setWebhook(self, call: Call) -> web.Response:
        self.webhook = dict(call.params)
        if call.params.get("drop_pending_updates") in (True, "true", "True"):
            self._updates.clear()
        return self._ok(True)

    async def _m_deleteWebhook(self, call: Call) -> web.Response:
        self.webhook = {}
        return self._ok(True)

    async def _m_getWebhookInfo(self, call: Call) -> web.Response:
        return self._ok({"url": self.webhook.get("url", ""), "pending_update_count": 0})

    async def _m_setMyCommands(self, call: Call) -> web.Response:
        lang = str(call.params.get("language_code") or "")
        self.commands[lang] = list(call.params.get("commands") or [])
        return self._ok(True)


# -- recorded update payloads --------------------------------------------------------


def user(user_id: int = 5550001, lang: str = "zh-hans") -> dict[str, Any]:
    """A Telegram user object."""
    return {"id": user_id, "is_bot": False, "first_name": "测试", "language_code": lang}


def private_chat(chat_id: int = 5550001) -> dict[str, Any]:
    """A private chat object."""
    return {"id": chat_id, "first_name": "测试", "type": "private"}


def text_update(
    update_id: int, text: str, chat_id: int = 5550001, *, command: bool | None = None
) -> dict[str, Any]:
    """A text message update; a leading "/word" gets a bot_command entity as Telegram adds."""
    message: dict[str, Any] = {
        "message_id": secrets.randbelow(10**6),
        "from": user(chat_id),
        "chat": private_chat(chat_id),
        "date": int(time.time()),
        "text": text,
    }
    if command if command is not None else text.startswith("/"):
        length = len(text.split(" ", 1)[0])
        message["entities"] = [{"offset": 0, "length": length, "type": "bot_command"}]
    return {"update_id": update_id, "message": message}


def callback_update(
    update_id: int, data: str, chat_id: int = 5550001, message_id: int = 1001
) -> dict[str, Any]:
    """A button tap on a message the bot sent."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cbq-{update_id}",
            "from": user(chat_id),
            "chat_instance": "-1234",
            "data": data,
            "message": {
                "message_id": message_id,
                "from": {"id": 123456, "is_bot": True, "first_name": "信访助手"},
                "chat": private_chat(chat_id),
                "date": int(time.time()),
                "text": "请选择",
            },
        },
    }
