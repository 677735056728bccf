"""python-telegram-bot's HTTP layer on aiohttp: one ClientSession with a keep-alive pool.

``telegram.request.BaseRequest`` is PTB's documented extension point for the HTTP client
(https://docs.python-telegram-bot.org/en/stable/telegram.request.baserequest.html); PTB
keeps building the requests and mapping Bot API answers to ``RetryAfter``, ``Forbidden``,
``BadRequest`` and the rest, from the status code and body this class returns. It replaces
``HTTPXRequest`` because httpcore's pool costs CPU per request that grows with the
requests in flight (``_assign_requests_to_connections`` walks them all for every
connection), which capped the outbox at a third of a 1 000 msg/s broadcast; aiohttp is a
core dependency already. Transport failures map as ``HTTPXRequest`` maps them: a timeout
is ``TimedOut``, anything else ``NetworkError``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class AiohttpRequest(BaseRequest):
    """A ``BaseRequest`` over one aiohttp session (opened on first use or ``initialize``)."""

    __slots__ = ("_connect", "_limit", "_media_write", "_pool", "_read", "_session")

    def __init__(
        self,
        *,
        connection_limit: int = 64,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._limit = connection_limit
        self._read = read_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds a getUpdates long-poll timeout to it)."""
        return self._read

    async def initialize(self) -> None:
        """Open the session (idempotent)."""
        self._open()

    async def shutdown(self) -> None:
        """Close the session and its connections (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=30.0),
                headers={"User-Agent": self.USER_AGENT},
                # bodies are read whole by do_request; no cookies are ever needed
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """See :meth:`telegram.request.BaseRequest.do_request`."""
        read = self._read if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, DefaultValue) else pool_timeout
        kwargs: dict[str, Any] = {}
        total: float | None = None
        if request_data is not None and request_data.contains_files:
            kwargs["data"] = _multipart(request_data)
            # aiohttp has no write timeout: an upload is bounded as a whole instead
            write = self._media_write if isinstance(write_timeout, DefaultValue) else write_timeout
            if write is not None:
                total = write + (read or 0) + (connect or 0) + (pool or 0)
        elif request_data is not None:
            kwargs["data"] = urlencode(request_data.json_parameters).encode()
            kwargs["headers"] = _FORM
        timeout = aiohttp.ClientTimeout(
            total=total,
            # aiohttp's connect includes waiting for a free connection of the pool
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._open().request(method, url, timeout=timeout, **kwargs) as resp:
                return resp.status, await resp.read()
        except TimeoutError as err:  # aiohttp's timeout errors subclass it
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err


def _multipart(request_data: RequestData) -> aiohttp.FormData:
    """Parameters and files as multipart/form-data (uploads; the bot sends none today)."""
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        if isinstance(part, tuple):
            filename, content, *rest = part
            form.add_field(name, content, filename=filename, content_type=rest[0] if rest else None)
        else:
            form.add_field(name, part)
    return form
