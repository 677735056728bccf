"""Input checks at the door: NUL bytes refused, request bodies given a deadline.

NUL: a 400 for any query, path, form or JSON body with one. PostgreSQL text cannot hold
U+0000, so a NUL in a search term, a filter or a name became a 500 there. The platform
webhooks (/telegram, /wechat) are left to intake, which drops NUL characters from what
the platform sent (a 4xx would only make the platform redeliver); file names of uploads
are checked where the multipart body is read (bot/channels/web.py).

Deadlines: a JSON or form body must arrive within ``BODY_SECONDS``; any other request
with a body (uploads, platform webhooks) must be done within ``STREAM_BODY_SECONDS``.
A client that trickles its body is answered 408 instead of holding a connection forever.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from bot.web.forwarded import Handler

PLATFORM_PATHS = ("/telegram", "/wechat")
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
BODY_SECONDS = 30.0
STREAM_BODY_SECONDS = 300.0


def refused(status: int = 400) -> web.Response:
    """The answer to input that holds a NUL byte."""
    body = {"error": "nul_byte", "detail": "NUL characters are not accepted / 不接受空字符"}
    return web.Response(
        text=json.dumps(body, ensure_ascii=False), status=status, content_type=_JSON
    )


def has_nul(text: str) -> bool:
    """True when ``text`` holds a NUL, raw or percent-encoded."""
    return "\x00" in text or "%00" in text


def _timed_out() -> web.Response:
    body = {"error": "body_timeout", "detail": "the request body arrived too slowly / 请求超时"}
    return web.Response(text=json.dumps(body, ensure_ascii=False), status=408, content_type=_JSON)


def _nul_in(request: web.Request, body: bytes) -> bool:
    if b"\x00" in body:
        return True
    if request.content_type == _JSON:
        return b"\\u0000" in body
    return b"%00" in body


@web.middleware
async def input_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse NULs in the path, query and (form or JSON) body; bound the body's arrival."""
    if has_nul(request.raw_path):
        return refused()
    if not request.can_read_body:
        return await handler(request)
    platform = request.path.startswith(PLATFORM_PATHS)
    if request.content_type in (_FORM, _JSON) and not platform:
        try:
            async with asyncio.timeout(BODY_SECONDS):
                body = await request.read()  # cached: the handler reads the same bytes
        except TimeoutError:
            return _timed_out()
        return refused() if _nul_in(request, body) else await handler(request)
    deadline = asyncio.timeout(STREAM_BODY_SECONDS)
    try:
        async with deadline:
            return await handler(request)
    except TimeoutError:
        if deadline.expired():
            return _timed_out()
        raise
