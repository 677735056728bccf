"""Tencent Cloud SMS callbacks: delivery receipts (状态回执) and citizens' replies (回复).

Both are JSON POSTs Tencent sends to the URLs configured in its SMS console, answered
``{"result": 0, "errmsg": "OK"}``:

- receipts: a list of ``{"user_receive_time", "nationcode", "mobile", "report_status"
  ("SUCCESS" | "FAIL"), "errmsg" ("DELIVRD" or the carrier's code), "description",
  "sid"}``, ``sid`` being the SerialNo SendSms returned (the outbox row's external id).
  https://cloud.tencent.com/document/product/382/52077
- replies: ``{"mobile", "nationcode", "text", "sign", "time", "extend"}``; a reply of
  "TD" / "退订" (and the usual variants) leaves the number out of broadcasts; case
  notices still go out. https://cloud.tencent.com/document/product/382/52078

Tencent signs neither: they are mounted under a secret path segment
(``/sms/<XINFANG_SMS_CALLBACK_TOKEN>/status`` and ``…/reply``), compared in constant time.
"""

from __future__ import annotations

import hmac
import json
import unicodedata
from typing import Any

from aiohttp import web

from bot.clock import utc_now
from bot.logging import get_logger
from bot.messages import Address
from bot.metrics import REJECTED_REQUESTS
from bot.storage import sms_receipts
from bot.storage.db import Database

log = get_logger(__name__)

NAME = "sms"
MAX_BODY_BYTES = 256 * 1024  # a receipt batch is a few hundred bytes per message
MAX_RECEIPTS = 1000
OPT_OUT_WORDS = frozenset({"TD", "T", "N", "退订", "退定", "取消", "UNSUBSCRIBE", "STOP"})
OK = {"result": 0, "errmsg": "OK"}


def is_opt_out(text: str) -> bool:
    """Whether a reply asks for no more messages (TD, 退订, ...), however written."""
    folded = unicodedata.normalize("NFKC", text).strip().strip("。.!！").upper()
    return folded in OPT_OUT_WORDS


def e164_of(nationcode: Any, mobile: Any) -> str:
    """The E.164 number of a callback's (nationcode, mobile)."""
    code = str(nationcode or "86").lstrip("+")
    number = str(mobile or "").strip()
    if number.startswith("+"):
        return number
    return f"+{code}{number}" if number.isdigit() else ""


class SmsCallbacks:
    """POST /sms/{token}/status and /sms/{token}/reply."""

    def __init__(self, db: Database, token: str) -> None:
        self.db = db
        self.token = token

    def add_routes(self, app: web.Application) -> None:
        """Mount both callbacks."""
        app.router.add_post("/sms/{token}/status", self.status)
        app.router.add_post("/sms/{token}/reply", self.reply)

    async def _read(self, request: web.Request) -> Any:
        token = request.match_info["token"]
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            REJECTED_REQUESTS.labels(NAME, "bad_token").inc()
            raise web.HTTPNotFound()
        # read whole (the input guard may have read a JSON body already: it is cached);
        # the application's client_max_size bounds a body without Content-Length
        body = await request.read() if (request.content_length or 0) <= MAX_BODY_BYTES else None
        if body is None or len(body) > MAX_BODY_BYTES:
            REJECTED_REQUESTS.labels(NAME, "too_large").inc()
            raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, request.content_length or 0)
        try:
            return json.loads(body)
        except ValueError:
            REJECTED_REQUESTS.labels(NAME, "malformed").inc()
            raise web.HTTPBadRequest(text="malformed") from None

    async def status(self, request: web.Request) -> web.Response:
        """Delivery receipts: mark each named row delivered or undelivered."""
        data = await self._read(request)
        items = data if isinstance(data, list) else [data]
        if len(items) > MAX_RECEIPTS:
            raise web.HTTPRequestEntityTooLarge(MAX_RECEIPTS, len(items))
        now = utc_now()
        found = 0
        async with self.db.transaction() as conn:
            for item in items:
                if not isinstance(item, dict) or not item.get("sid"):
                    continue
                delivered = str(item.get("report_status", "")).upper() == "SUCCESS"
                error = f"sms receipt [{item.get('errmsg', '')}] {item.get('description', '')}"
                row = await sms_receipts.record_receipt(
                    conn,
                    channel=NAME,
                    serial_no=str(item["sid"]),
                    delivered=delivered,
                    detail=str(item.get("errmsg", "")),
                    error=error,
                    at=now,
                )
                found += row is not None
        log.info("sms.receipts", received=len(items), matched=found)
        return web.json_response(OK)

    async def reply(self, request: web.Request) -> web.Response:
        """A citizen's reply: TD / 退订 opts the number out of broadcasts."""
        data = await self._read(request)
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="malformed")
        phone = e164_of(data.get("nationcode"), data.get("mobile"))
        if phone and is_opt_out(str(data.get("text", ""))):
            async with self.db.transaction() as conn:
                await sms_receipts.opt_out(conn, Address(NAME, phone), utc_now())
            log.info("sms.opt_out")
        return web.json_response(OK)
