"""Asking for 订阅通知 consent: the /my/subscribe page with WeChat's ``wx-open-subscribe``.

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
from bot.channels.wechat_oauth import in_wechat
from bot.dialogs.texts import Texts
from bot.logging import get_logger
from bot.storage import contacts
from bot.web.citizen_access import PREFIX, CitizenAccess
from bot.web.security import SECURITY_HEADERS

log = get_logger(__name__)

PATH = PREFIX + "/subscribe"
JS_SDK = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"  # WeChat's own, inside WeChat only
# the page may load WeChat's JS-SDK, which the open tag needs; nothing else is external
CSP = SECURITY_HEADERS["Content-Security-Policy"].replace(
    "script-src 'self'", "script-src 'self' https://res.wx.qq.com https://res2.wx.qq.com"
)


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


class SubscribePage:
    """GET /my/subscribe: the consent button for the office's notification templates."""

    def __init__(
        self,
        api: WeChatApi,
        config: WeChatConfig,
        access: CitizenAccess,
        texts: Texts,
        *,
        public_url: str,
    ) -> None:
        self.api = api
        self.config = config
        self.access = access
        self.texts = texts
        self.public_url = public_url.rstrip("/")

    async def page(self, request: web.Request) -> web.Response:
        """The page; without a WeChat session, the follower is recognised (snsapi_base)."""
        visitor = await self.access.visitor(request)
        lang = "zh"
        wechat_contact = False
        if visitor is not None:
            async with self.api.db.read() as conn:
                contact = await contacts.get(conn, visitor.contact_id)
            lang, wechat_contact = contact.lang, contact.address.channel == "wechat"
        templates = [t.id for t in self.config.subscribe]
        state = "ready"
        wx = ""
        if visitor is None or not wechat_contact:
            state = "no_access"
        elif not templates:
            state = "none"
        elif not in_wechat(request):
            state = "outside"
        else:
            try:
                wx = (await js_config(self.api, self.public_url + request.path_qs)).to_json()
            except (WeChatApiError, WeChatTransportError) as exc:
                log.warning("wechat.jsapi_ticket_failed", error=str(exc))
                state = "unavailable"
        lang = lang if lang in self.texts.by_lang else "zh"
        context = {
            "t": lambda key, **params: self.texts.get(lang, key, **params),
            "static": lambda name: str(request.app.router["citizen_static"].url_for(filename=name)),
            "lang": lang,
            "state": state,
            "templates": ",".join(templates),
            "wx_config": wx,
            "js_sdk": JS_SDK if wx else "",
        }
        response = aiohttp_jinja2.render_template("citizen_subscribe.html", request, context)
        response.headers.update(SECURITY_HEADERS)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        if visitor is not None and visitor.fresh:
            self.access.set_cookie(response, visitor)
        return response
