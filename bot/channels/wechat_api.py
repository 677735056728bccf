"""An async client of the WeChat Official Account HTTP API (token, messages, media, menu).

wechatpy's own client is synchronous (requests), so it never runs on the event loop:
this module speaks the same JSON API over aiohttp. Every call goes to
``XINFANG_WECHAT_API_BASE``. The access_token is shared by all processes through the
``kv`` table and refreshed by one process at a time (a refresh invalidates the old one):
https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp

from bot.clock import utc_now
from bot.logging import get_logger
from bot.storage import kv
from bot.storage.db import Database
from bot.storage.files import save_stream

log = get_logger(__name__)

TOKEN_KEY = "wechat.access_token"
TICKET_KEY = "wechat.jsapi_ticket"
MP_BASE = "https://mp.weixin.qq.com"  # showqrcode lives on this host, not the API's
# Global return codes: https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid / malformed / expired access_token
BUSY_ERRORS = frozenset({45009, -1})  # API quota reached / system busy: try again later
UNREACHABLE_ERRORS = frozenset({43004, 40003})  # not subscribed / invalid openid
OUT_OF_WINDOW = 45015  # customer-service message more than 48 h after the user's last message
# since June 2023 a 服务号 may send at most 5 customer-service messages in the 48 hours
# after a user's message; beyond that: 45047 (waiting does not help before the user writes)
QUOTA_EXCEEDED = 45047
NO_CUSTOMER_SERVICE = frozenset({OUT_OF_WINDOW, QUOTA_EXCEEDED})  # a template may still go
_FILENAME = re.compile(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", re.IGNORECASE)


Fetch = Callable[[], Awaitable[tuple[str, int]]]  # a shared value and its lifetime (s)


class WeChatApiError(Exception):
    """The API answered with a non-zero errcode (or an unusable response)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"wechat errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatTransportError(Exception):
    """The API could not be reached or answered with an HTTP error (always retryable).
    ``maybe_sent``: the request may have been carried out (it left, and the answer was
    lost); False only when no connection was made."""

    def __init__(self, message: str, *, maybe_sent: bool = True) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


@dataclass(frozen=True, slots=True)
class Media:
    """A downloaded media file, stored under the attachments directory."""

    key: str
    size: int
    mime: str
    filename: str


class WeChatApi:
    """The Official Account API over aiohttp, with the database-shared access_token."""

    def __init__(
        self,
        db: Database,
        *,
        app_id: str,
        app_secret: str,
        api_base: str,
        mp_base: str = MP_BASE,
        timeout: float = 10.0,
        refresh_margin: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.app_id = app_id
        self.app_secret = app_secret
        self.api_base = api_base.rstrip("/")
        self.mp_base = mp_base.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.refresh_margin = refresh_margin
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._refreshing = asyncio.Lock()  # one refresh per process; the row lock across them

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # access_token ---------------------------------------------------------------------

    def _fresh(self, entry: kv.Entry | None) -> str | None:
        if entry is None or not isinstance(entry.value, str) or not entry.value:
            return None
        if entry.expires_at is None or entry.expires_at - self.refresh_margin <= self.clock():
            return None
        return entry.value

    async def access_token(self) -> str:
        """The current token: read from the database, refreshed when near expiry."""
        return await self._shared(TOKEN_KEY, self._fetch_token)

    async def refresh(self, stale: str | None) -> str:
        """Fetch a new token unless another process already replaced ``stale``."""
        return await self._refresh(TOKEN_KEY, stale, self._fetch_token)

    async def jsapi_ticket(self) -> str:
        """The JS-SDK ticket (cgi-bin/ticket/getticket, type=jsapi), shared and refreshed
        like the access_token: its daily quota is small, so it is never fetched per page.
        https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html#62
        """
        async with self.db.read() as conn:
            ticket = self._fresh(await kv.get(conn, TICKET_KEY))
        if ticket is not None:
            return ticket
        # the token is fetched before the ticket's row is locked: a token refresh inside
        # the ticket's refresh would wait on a second write transaction (SQLite: forever)
        token = await self.access_token()
        try:
            return await self._refresh(TICKET_KEY, None, lambda: self._fetch_ticket(token))
        except WeChatApiError as err:
            if err.errcode not in TOKEN_ERRORS:
                raise
        token = await self.refresh(stale=token)
        return await self._refresh(TICKET_KEY, None, lambda: self._fetch_ticket(token))

    async def _shared(self, key: str, fetch: Fetch) -> str:
        async with self.db.read() as conn:
            value = self._fresh(await kv.get(conn, key))
        return value or await self._refresh(key, None, fetch)

    async def _refresh(self, key: str, stale: str | None, fetch: Fetch) -> str:
        """Fetch a new value of ``key`` unless another process already replaced ``stale``.

        The kv row is locked for the whole check-fetch-store, so exactly one process
        fetches; the others wait on the lock, then find the new value and use it.
        """
        async with self._refreshing, self.db.transaction() as conn:
            # the row must exist to be locked (first start): a no-op when it does
            await kv.put(conn, key, None, self.clock(), expect_version=0)
            entry = await kv.get(conn, key, lock=True)
            assert entry is not None
            current = self._fresh(entry)
            if current is not None and current != stale:
                return current
            value, expires_in = await fetch()
            expires_at = self.clock() + timedelta(seconds=expires_in)
            stored = await kv.put(
                conn,
                key,
                value,
                self.clock(),
                expires_at=expires_at,
                expect_version=entry.version,
            )
            if not stored:  # impossible while we hold the row lock; refuse to guess
                raise WeChatTransportError(f"{key} row changed under its lock")
            log.info("wechat.shared_refreshed", key=key, expires_in=expires_in)
            return value

    async def _fetch_token(self) -> tuple[str, int]:
        params = {
            "grant_type": "client_credential",
            "appid": self.app_id,
            "secret": self.app_secret,
        }
        data = await self._json("GET", "/cgi-bin/token", params=params)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatApiError(-2, "token response without access_token")
        return token, int(data.get("expires_in", 7200))

    async def _fetch_ticket(self, token: str) -> tuple[str, int]:
        params = {"access_token": token, "type": "jsapi"}
        data = await self._json("GET", "/cgi-bin/ticket/getticket", params=params)
        ticket = data.get("ticket")
        if not isinstance(ticket, str) or not ticket:
            raise WeChatApiError(-2, "getticket response without ticket")
        return ticket, int(data.get("expires_in", 7200))

    # calls ------------------------------------------------------------------------------

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            async with self._http().request(
                method, self.api_base + path, params=params, json=body
            ) as resp:
                if resp.status >= 400:
                    raise WeChatTransportError(f"HTTP {resp.status} from {path}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            unsent = isinstance(exc, aiohttp.ClientConnectorError)
            raise WeChatTransportError(
                f"{path}: {type(exc).__name__}: {exc}", maybe_sent=not unsent
            ) from exc
        if not isinstance(data, dict):
            raise WeChatTransportError(f"{path}: response is not a JSON object")
        errcode = int(data.get("errcode", 0) or 0)
        if errcode != 0:
            raise WeChatApiError(errcode, str(data.get("errmsg", "")))
        return data

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON API call with the shared token; a rejected token is refreshed once."""
        token = await self.access_token()
        try:
            return await self._json("POST", path, params={"access_token": token}, body=body)
        except WeChatApiError as err:
            if err.errcode not in TOKEN_ERRORS:
                raise
            log.info("wechat.token_rejected", errcode=err.errcode)
        token = await self.refresh(stale=token)
        return await self._json("POST", path, params={"access_token": token}, body=body)

    async def send_text(self, openid: str, content: str) -> dict[str, Any]:
        """A customer-service text message (only within 48 h of the user's last message)."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        return await self.call("/cgi-bin/message/custom/send", body)

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: dict[str, str],
        *,
        url: str = "",
        client_msg_id: str = "",
    ) -> dict[str, Any]:
        """A template message (status notifications outside the customer-service window).

        ``client_msg_id``: WeChat sends one message per openid and id (for about ten
        minutes), so a resend after a lost answer is not delivered twice.
        """
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {k: {"value": v} for k, v in data.items()},
        }
        if url:
            body["url"] = url
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        return await self.call("/cgi-bin/message/template/send", body)

    async def send_subscribe(
        self, openid: str, template_id: str, data: dict[str, str], *, page: str = ""
    ) -> dict[str, Any]:
        """A subscription notification (订阅通知, message/subscribe/bizsend): needs the
        citizen's consent for the template (43101 without it). ``page`` is the web page
        the notification opens.
        https://developers.weixin.qq.com/doc/offiaccount/Subscription_Messages/api.html
        """
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {k: {"value": v} for k, v in data.items()},
        }
        if page:
            body["page"] = page
        return await self.call("/cgi-bin/message/subscribe/bizsend", body)

    async def oauth_openid(self, code: str) -> tuple[str, bool]:
        """网页授权: exchange the ``code`` of an snsapi_base redirect for the follower's
        openid (sns/oauth2/access_token; 40029 invalid code, 40163 code used). The flag is
        True for a 快照页 visitor, whose openid is a placeholder (is_snapshotuser).
        https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
        """
        params = {
            "appid": self.app_id,
            "secret": self.app_secret,
            "code": code,
            "grant_type": "authorization_code",
        }
        data = await self._json("GET", "/sns/oauth2/access_token", params=params)
        openid = data.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WeChatApiError(-2, "oauth2 response without openid")
        return openid, int(data.get("is_snapshotuser") or 0) == 1

    async def create_qrcode(self, scene: str, expire_seconds: int | None) -> dict[str, Any]:
        """A parametric QR code's ticket (qrcode/create): permanent with
        QR_LIMIT_STR_SCENE, temporary (at most 30 days) with QR_STR_SCENE.
        https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
        """
        body: dict[str, Any] = {
            "action_name": "QR_LIMIT_STR_SCENE" if expire_seconds is None else "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        }
        if expire_seconds is not None:
            body["expire_seconds"] = expire_seconds
        return await self.call("/cgi-bin/qrcode/create", body)

    async def show_qrcode(self, ticket: str, max_bytes: int = 4 * 1024 * 1024) -> bytes:
        """The QR code image of a ticket (showqrcode, on the mp host, no token)."""
        url = self.mp_base + "/cgi-bin/showqrcode"
        try:
            async with self._http().get(url, params={"ticket": ticket}) as resp:
                if resp.status >= 400:
                    raise WeChatTransportError(f"HTTP {resp.status} from showqrcode")
                if not resp.content_type.startswith("image/"):
                    raise WeChatApiError(-2, f"showqrcode answered {resp.content_type}")
                image = await resp.content.read(max_bytes + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WeChatTransportError(f"showqrcode: {type(exc).__name__}") from exc
        if len(image) > max_bytes:
            raise WeChatTransportError("showqrcode: image too large")
        return image

    async def create_menu(self, menu: dict[str, Any]) -> dict[str, Any]:
        """Install the custom menu."""
        return await self.call("/cgi-bin/menu/create", menu)

    async def download_media(
        self, media_id: str, root: Path, max_bytes: int, *, fallback_name: str = "media"
    ) -> Media:
        """Download a temporary media file into attachment storage (media/get)."""
        token = await self.access_token()
        for attempt in range(2):
            try:
                return await self._download(media_id, token, root, max_bytes, fallback_name)
            except WeChatApiError as err:
                if err.errcode not in TOKEN_ERRORS or attempt:
                    raise
                token = await self.refresh(stale=token)
        raise AssertionError("unreachable")

    async def _download(
        self, media_id: str, token: str, root: Path, max_bytes: int, fallback_name: str
    ) -> Media:
        params = {"access_token": token, "media_id": media_id}
        try:
            async with self._http().get(self.api_base + "/cgi-bin/media/get", params=params) as r:
                if r.status >= 400:
                    raise WeChatTransportError(f"HTTP {r.status} from media/get")
                mime = r.content_type or "application/octet-stream"
                if mime in ("application/json", "text/plain"):
                    # errors come back as JSON with an errcode instead of the file
                    data = await r.json(content_type=None)
                    errcode = int(data.get("errcode", 0) or 0)
                    raise WeChatApiError(errcode or -2, str(data.get("errmsg", "")))
                filename = _filename(r.headers.get("Content-Disposition", "")) or fallback_name
                key, size = await save_stream(
                    root, filename, _chunks(r.content), max_bytes, self.clock()
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WeChatTransportError(f"media/get: {type(exc).__name__}") from exc
        return Media(key=key, size=size, mime=mime, filename=filename)


async def _chunks(stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    async for chunk in stream.iter_chunked(65536):
        yield chunk


def _filename(disposition: str) -> str:
    match = _FILENAME.search(disposition)
    return unquote(match.group(1)) if match else ""
