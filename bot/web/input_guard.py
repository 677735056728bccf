"""NUL bytes are refused at the door: a 400 for any query, path, form or JSON body with one.

PostgreSQL text cannot hold U+0000, so a NUL in a search term, a filter or a name became a
500 there. The platform webhooks (/telegram, /wechat) are left to intake, which drops NUL
characters from what the platform sent (a 4xx would only make the platform redeliver);
file names of uploads are checked where the multipart body is read (bot/channels/web.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PLATFORM_PATHS = ("/telegram", "/wechat")
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"


def refused(status: int = 400) -> web.Response:
    """The answer to input that holds a NUL byte."""
    body = {"error": "nul_byte", "detail": "NUL characters are not accepted / 不接受空字符"}
    return web.Response(
        text=json.dumps(body, ensure_ascii=False), status=status, content_type=_JSON
    )


def has_nul(text: str) -> bool:
    """True when ``text`` holds a NUL, raw or percent-encoded."""
    return "\x00" in text or "%00" in text


async def _body_has_nul(request: web.Request) -> bool:
    if request.content_type not in (_FORM, _JSON) or not request.can_read_body:
        return False
    body = await request.read()  # cached: the handler reads the same bytes
    if b"\x00" in body:
        return True
    if request.content_type == _JSON:
        return b"\\u0000" in body
    return b"%00" in body


@web.middleware
async def nul_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse requests whose path, query or (form or JSON) body holds a NUL."""
    if has_nul(request.raw_path):
        return refused()
    if request.path.startswith(PLATFORM_PATHS):
        return await handler(request)
    if await _body_has_nul(request):
        return refused()
    return await handler(request)
