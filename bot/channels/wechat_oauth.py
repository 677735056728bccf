"""网页授权 snsapi_base: inside WeChat, the citizen's case page (/my) knows the follower.

A page opened in WeChat's browser without a session is sent to WeChat's authorize URL
with ``scope=snsapi_base``; WeChat returns silently (no consent screen for the base scope)
to the page with a one-time ``code``, which the server exchanges for the follower's
openid (sns/oauth2/access_token). That openid is the contact of the WeChat channel: the
page opens a session for it and drops the code from the address.
https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html

The redirect URI must lie on the 网页授权域名 configured on the platform: it is built on
XINFANG_PUBLIC_URL. A 快照页 visitor (is_snapshotuser=1) has a placeholder openid and is
not let in; an invalid or used code (40029, 40163) is refused without another redirect.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from yarl import URL

from bot.channels.wechat_api import WeChatApi, WeChatApiError, WeChatTransportError
from bot.channels.wechat_inbound import NAME
from bot.clock import utc_now
from bot.logging import get_logger
from bot.messages import Address
from bot.storage import contacts
from bot.web.citizen_access import CitizenAccess

log = get_logger(__name__)

STATE = "xf-my"  # our redirects carry it; a code without it is not ours
WECHAT_BROWSER = "micromessenger"  # in the User-Agent of WeChat's built-in browser


def authorize_url(oauth_base: str, app_id: str, redirect_uri: str) -> str:
    """WeChat's snsapi_base authorize URL returning to ``redirect_uri``.

    The parameters must come in this order, and ``#wechat_redirect`` must end it.
    """
    return (
        f"{oauth_base.rstrip('/')}/connect/oauth2/authorize?appid={app_id}"
        f"&redirect_uri={quote(redirect_uri, safe='')}&response_type=code"
        f"&scope=snsapi_base&state={STATE}#wechat_redirect"
    )


def in_wechat(request: web.Request) -> bool:
    """Whether the request comes from WeChat's built-in browser."""
    return WECHAT_BROWSER in request.headers.get("User-Agent", "").lower()


class SnsapiBase:
    """A way into /my (:class:`CitizenAccess` ``ways``): the WeChat follower, by openid."""

    def __init__(
        self, api: WeChatApi, access: CitizenAccess, *, public_url: str, oauth_base: str
    ) -> None:
        self.api = api
        self.access = access
        self.public_url = public_url.rstrip("/")
        self.oauth_base = oauth_base

    def url_for(self, path: str) -> str:
        """The authorize URL that ends on ``path`` of the public site (menu view buttons)."""
        return authorize_url(self.oauth_base, self.api.app_id, self.public_url + path)

    async def __call__(self, request: web.Request) -> int | None:
        """The contact of the follower, or a redirect (raised) to WeChat or to the clean page."""
        code = request.query.get("code", "")
        if code and request.query.get("state") == STATE:
            contact_id = await self._contact(code)
            if contact_id is None:
                return None
            # a session now, and the code out of the address (it is single-use anyway)
            rest = {k: v for k, v in request.query.items() if k not in ("code", "state")}
            clean = request.rel_url.with_query(rest)
            response = web.HTTPSeeOther(str(clean))
            self.access.set_cookie(response, self.access.open(contact_id))
            raise response
        if request.method == "GET" and in_wechat(request) and self.public_url:
            # as built: a plain string would be re-quoted by yarl, which un-escapes the
            # ":", "/" and "?" of redirect_uri that WeChat wants urlEncoded
            raise web.HTTPFound(URL(self.url_for(str(request.rel_url)), encoded=True))
        return None

    async def _contact(self, code: str) -> int | None:
        try:
            openid, snapshot = await self.api.oauth_openid(code)
        except (WeChatApiError, WeChatTransportError) as exc:
            errcode = exc.errcode if isinstance(exc, WeChatApiError) else None
            log.info("wechat.oauth_refused", errcode=errcode)
            return None
        if snapshot:
            log.info("wechat.oauth_snapshot_user")
            return None
        async with self.api.db.transaction() as conn:
            contact = await contacts.get_or_create(conn, Address(NAME, openid), utc_now())
        log.info("wechat.oauth_ok", contact_id=contact.id)
        return contact.id
