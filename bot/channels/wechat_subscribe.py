"""Asking for 订阅通知 consent: WeChat's ``wx-open-subscribe`` button on the citizen pages.

:class:`SubscribeConsent` is the consent block (:class:`bot.web.citizen.ConsentBlock`) of
/my and the case page for a WeChat contact; the /my/subscribe page shows the same block.

The open tag works only on a page whose JS-SDK ``wx.config`` is signed with the account's
``jsapi_ticket``: sha1 of ``jsapi_ticket=…&noncestr=…&timestamp=…&url=…`` (the keys in
ASCII order, raw values, the URL as the browser shows it, without ``#``), and it names the
open tag in ``openTagList``. The citizen's choice reaches the bot as the
``subscribe_msg_popup_event`` (bot/channels/wechat_events.py), never through the page.
https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html#62
https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_Open_Tag.html
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass

import aiohttp_jinja2
from aiohttp import web

from bot.channels.wechat_api import WeChatApi, WeChatApiError, WeChatTransportError
from bot.channels.wechat_config import WeChatConfig
from bot.channels.wechat_inbound import NAME
from bot.channels.wechat_oauth import in_wechat
from bot.dialogs.texts import Texts
from bot.logging import get_logger
from bot.storage import contacts
from bot.storage import wechat_consents as consents
from bot.storage.contacts import Contact
from bot.web.citizen import ConsentView
from bot.web.citizen_access import PREFIX, CitizenAccess
from bot.web.security import SECURITY_HEADERS

log = get_logger(__name__)

PATH = PREFIX + "/subscribe"
JS_SDK = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"  # WeChat's own, inside WeChat only
# a page with the button may load WeChat's JS-SDK, which the open tag needs (res2: its
# fallback host); nothing else is external
JS_SDK_ORIGINS = ("https://res.wx.qq.com", "https://res2.wx.qq.com")


def js_signature(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    """The JS-SDK signature of a page URL (附录1, JS-SDK使用权限签名算法)."""
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(plain.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class JsConfig:
    """What ``wx.config`` needs for one page URL."""

    app_id: str
    timestamp: int
    nonce: str
    signature: str

    def to_json(self) -> str:
        """The wx.config argument (the page adds nothing but this)."""
        return json.dumps(
            {
                "debug": False,
                "appId": self.app_id,
                "timestamp": self.timestamp,
                "nonceStr": self.nonce,
                "signature": self.signature,
                # the open tag needs a non-empty jsApiList; checkJsApi asks for nothing
                "jsApiList": ["checkJsApi"],
                "openTagList": ["wx-open-subscribe"],
            }
        )


async def js_config(api: WeChatApi, url: str) -> JsConfig:
    """A signed wx.config for ``url`` (the shared jsapi_ticket, fetched when stale)."""
    ticket = await api.jsapi_ticket()
    nonce = secrets.token_urlsafe(12)
    timestamp = int(time.time())
    return JsConfig(api.app_id, timestamp, nonce, js_signature(ticket, nonce, timestamp, url))


class SubscribeConsent:
    """The consent block of a WeChat contact's pages, when the office has 订阅通知 templates:
    inside WeChat the button with a wx.config signed for the page's own URL, elsewhere a
    line saying to open the page in WeChat; nothing when the jsapi_ticket can't be had."""

    def __init__(self, api: WeChatApi, config: WeChatConfig, *, public_url: str) -> None:
        self.api = api
        self.config = config
        self.public_url = public_url.rstrip("/")

    async def view(self, request: web.Request, contact: Contact) -> ConsentView | None:
        """The block for ``contact`` (None: not a follower, no templates, or no ticket)."""
        if contact.address.channel != NAME or not self.config.subscribe:
            return None
        if await self._all_granted(contact):  # nothing left to ask
            return ConsentView({"state": "granted"})
        if not in_wechat(request):
            return ConsentView({"state": "outside"})
        try:
            # the URL as WeChat's browser shows it: the public address, this path and query
            wx = await js_config(self.api, self.public_url + request.path_qs)
        except (WeChatApiError, WeChatTransportError) as exc:
            log.warning("wechat.jsapi_ticket_failed", error=str(exc))
            return None
        context = {
            "state": "ready",
            "templates": ",".join(t.id for t in self.config.subscribe),
            "wx_config": wx.to_json(),
            "js_sdk": JS_SDK,
        }
        return ConsentView(context, JS_SDK_ORIGINS)

    async def _all_granted(self, contact: Contact) -> bool:
        """Whether the follower holds long-term consent to every template (a one-time
        template always has more to ask: each consent serves one notification)."""
        if not all(t.long_term for t in self.config.subscribe):
            return False
        ids = [t.id for t in self.config.subscribe]
        async with self.api.db.read() as conn:
            held = await consents.of_openid(conn, contact.address.address, ids)
        return all(held.get(i) is not None and held[i].long_term for i in ids)


class SubscribePage:
    """GET /my/subscribe: the consent block on a page of its own (messages may link here)."""

    def __init__(
        self,
        block: SubscribeConsent,
        access: CitizenAccess,
        texts: Texts,
    ) -> None:
        self.block = block
        self.access = access
        self.texts = texts

    async def page(self, request: web.Request) -> web.Response:
        """The page; without a WeChat session, the follower is recognised (snsapi_base)."""
        visitor = await self.access.visitor(request)
        lang = "zh"
        consent = None
        state = "no_access"
        if visitor is not None:
            async with self.block.api.db.read() as conn:
                contact = await contacts.get(conn, visitor.contact_id)
            lang = contact.lang
            if contact.address.channel == NAME and not self.block.config.subscribe:
                state = "none"
            elif contact.address.channel == NAME:
                consent = await self.block.view(request, contact)
                state = "unavailable" if consent is None else str(consent.context["state"])
        lang = lang if lang in self.texts.by_lang else "zh"
        context = {
            "t": lambda key, **params: self.texts.get(lang, key, **params),
            "static": lambda name: str(request.app.router["citizen_static"].url_for(filename=name)),
            "lang": lang,
            "state": state,
            "consent": consent.context if consent else None,
        }
        response = aiohttp_jinja2.render_template("citizen_subscribe.html", request, context)
        response.headers.update(SECURITY_HEADERS)
        if consent is not None:
            response.headers["Content-Security-Policy"] = consent.csp()
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        if visitor is not None and visitor.fresh:
            self.access.set_cookie(response, visitor)
        return response
