"""A WeChat notice the customer-service API could not carry, sent the next best way.

The order, per notice (DESIGN §5, issue "A notice always reaches the citizen"):

1. customer-service message: inside 48 h of the citizen's last message and within the
   5-per-48-hours quota (the channel tries it first; 45015 / 45047 bring us here);
2. subscription notification (订阅通知, ``message/subscribe/bizsend``) with a template the
   citizen consented to: long-term consent, or an unused one-time consent, spent here;
3. template message (XINFANG_WECHAT_TEMPLATE_ID);
4. else :class:`WeChatNoRoute`: a permanent failure with the reason of every step, the
   point where a further channel (SMS) takes over.

Broadcasts stop after step 1: subscription notifications and template messages are for
the citizen's own business only, never for mass messages.
https://developers.weixin.qq.com/doc/offiaccount/Subscription_Messages/intro.html
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Operation_Specifications.html
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.channels.base import SendError
from bot.channels.wechat_api import (
    BUSY_ERRORS,
    OUT_OF_WINDOW,
    QUOTA_EXCEEDED,
    TOKEN_ERRORS,
    UNREACHABLE_ERRORS,
    WeChatApi,
    WeChatApiError,
    WeChatTransportError,
)
from bot.channels.wechat_config import SubscribeTemplate, WeChatConfig
from bot.channels.wechat_templates import DEFAULT_KIND, TemplateError, notice_values
from bot.clock import utc_now
from bot.logging import get_logger
from bot.messages import OutboundMessage, SendResult
from bot.storage import wechat_consents as consents
from bot.storage import wechat_unconfirmed as unconfirmed

log = get_logger(__name__)

NO_CUSTOMER_SERVICE_WHY = {
    OUT_OF_WINDOW: "outside the 48-hour window",
    QUOTA_EXCEEDED: "customer-service quota (5 per 48 hours) used up",
}
REFUSED = 43101  # bizsend: the citizen has no consent (left) for the template
# bizsend: the notification's data (47003) or template id (40037) is wrong: an office
# configuration error; the citizen's consent was not used, the next step is tried
SUBSCRIBE_CONFIG_ERRORS = frozenset({47003, 40037})
SUBSCRIBE_PREFIX = "subscribe:"  # SendResult.external_id of a subscription notification
# how long a subscription notification whose answer was lost waits for WeChat's
# subscribe_msg_sent_event before it counts as not sent (the event comes within seconds)
REPORT_WAIT = timedelta(minutes=2)


class WeChatNoRoute(SendError):
    """No WeChat route is left for a notice: a permanent failure naming why each step
    failed. A further channel (SMS) hooks here; ``unreachable`` when the citizen is gone."""

    code = "wechat_no_route"

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason, retryable=False, unreachable=unreachable)


def send_error(err: WeChatApiError) -> SendError:
    """The outbox's view of an API error: retry later, or stop."""
    reason = f"{err.errcode}: {err.errmsg}"
    if err.errcode in BUSY_ERRORS:
        # 45009 is a daily quota: waiting minutes, not seconds, is what helps
        return SendError(reason, retryable=True, retry_after=600.0 if err.errcode > 0 else None)
    if err.errcode in TOKEN_ERRORS:  # still rejected after one refresh
        return SendError(reason, retryable=True)
    if err.errcode in UNREACHABLE_ERRORS:
        return SendError(reason, retryable=False, unreachable=True)
    return SendError(reason, retryable=False)


@dataclass
class Fallback:
    """Steps 2 to 4 of a notice that missed the customer-service window or quota."""

    api: WeChatApi
    config: WeChatConfig
    template_id: str
    tz: ZoneInfo
    report_wait: timedelta = REPORT_WAIT

    async def send(self, message: OutboundMessage, text: str, why: WeChatApiError) -> SendResult:
        """Send ``message`` after the customer-service API answered ``why``."""
        tried = [f"{why.errcode}: {NO_CUSTOMER_SERVICE_WHY.get(why.errcode, why.errmsg)}"]
        if message.kind == "broadcast":
            raise WeChatNoRoute(f"{tried[0]}; broadcasts never use notifications or templates")
        kind = str(message.template.get("key") or DEFAULT_KIND)
        values = notice_values(message.template, text, self.tz, utc_now())
        # the signed case page link the lifecycle put on the notice (a plain /my/cases URL
        # would open nothing: the page needs the link's signature or a session)
        url = str(message.template.get("url") or "")
        for sub in self.config.subscribe:
            sent = await self._subscription(message, sub, kind, values, url, tried)
            if sent is not None:
                return sent
        if not self.config.subscribe:
            tried.append("no subscription template configured")
        if not self.template_id:
            raise WeChatNoRoute("; ".join([*tried, "no template configured"]))
        log.info("wechat.template_fallback", outbox_id=message.outbox_id, errcode=why.errcode)
        try:
            data = self.config.templates.data(kind, values)
        except TemplateError as exc:
            raise WeChatNoRoute("; ".join([*tried, f"template: {exc}"])) from exc
        try:
            result = await self.api.send_template(
                message.address.address,
                self.template_id,
                data,
                url=url,
                client_msg_id=message.idempotency_key,
            )
        except WeChatApiError as err:
            error = send_error(err)
            if error.retryable:
                raise error from err
            reason = "; ".join([*tried, f"template {error.reason}"])
            raise WeChatNoRoute(reason, unreachable=error.unreachable) from err
        except WeChatTransportError as err:
            raise SendError(str(err), retryable=True) from err
        return SendResult(external_id=str(result.get("msgid", "")))

    async def _subscription(
        self,
        message: OutboundMessage,
        sub: SubscribeTemplate,
        kind: str,
        values: dict[str, str],
        url: str,
        tried: list[str],
    ) -> SendResult | None:
        """One subscription template: sent (the result), or None with the reason in
        ``tried``. A consent is taken before the call and given back when nothing was sent."""
        openid = message.address.address
        db = self.api.db
        try:
            data = sub.templates.data(kind, values)
        except TemplateError as exc:
            tried.append(f"subscription {sub.id}: {exc}")
            return None
        async with db.transaction() as conn:
            if not await consents.take(conn, openid, sub.id, utc_now()):
                tried.append(f"no consent for subscription {sub.id}")
                return None
            if message.outbox_id:  # settled when WeChat answers (or reports the send)
                await unconfirmed.note(conn, message.outbox_id, openid, sub.id, utc_now())
        try:
            result = await self.api.send_subscribe(openid, sub.id, data, page=url)
        except WeChatTransportError as err:
            if err.maybe_sent and message.outbox_id:  # WeChat's sent event will tell
                log.warning("wechat.subscription_unanswered", outbox_id=message.outbox_id)
                wait = self.report_wait.total_seconds()
                raise SendError(str(err), retryable=True, retry_after=wait) from err
            await self._settle(message, give_back=sub.id)
            raise SendError(str(err), retryable=True) from err
        except WeChatApiError as err:
            refused = err.errcode == REFUSED
            await self._settle(message, give_back="" if refused else sub.id)
            if refused:  # WeChat knows better: the consent is gone
                async with db.transaction() as conn:
                    await consents.revoke(conn, openid, sub.id, utc_now())
                tried.append(f"subscription {sub.id} {err.errcode}: {err.errmsg}")
                return None
            if err.errcode in SUBSCRIBE_CONFIG_ERRORS:
                log.error("wechat.subscribe_config", template=sub.id, errcode=err.errcode)
                tried.append(f"subscription {sub.id} {err.errcode}: {err.errmsg}")
                return None
            raise send_error(err) from err
        await self._settle(message)
        log.info("wechat.subscription_sent", outbox_id=message.outbox_id, template=sub.id)
        # the msgid, when WeChat gives one, is what subscribe_msg_sent_event reports on
        return SendResult(external_id=str(result.get("msgid") or SUBSCRIBE_PREFIX + sub.id))

    async def earlier_attempt(self, message: OutboundMessage) -> SendResult | None:
        """Before a notice is sent again: if an earlier attempt's bizsend went unanswered,
        it was delivered when WeChat reported so (the result); while the report may still
        come, the send waits (a retryable error); else (None) it is sent afresh, the
        consent the unanswered call took given back."""
        if not message.outbox_id or message.kind == "broadcast" or not self.config.subscribe:
            return None
        async with self.api.db.read() as conn:
            lost = await unconfirmed.of_outbox(conn, message.outbox_id)
        if lost is None:
            return None
        waited = utc_now() - lost.sent_at
        if lost.msgid is None and waited < self.report_wait:
            left = (self.report_wait - waited).total_seconds()
            why = "waiting for WeChat's report of a notification whose answer was lost"
            raise SendError(why, retryable=True, retry_after=left)
        never = lost.msgid is None  # not reported in time: it did not go out
        await self._settle(message, give_back=lost.template_id if never else "")
        log.info("wechat.subscription_reported", outbox_id=message.outbox_id, receipt=lost.receipt)
        return SendResult(external_id=lost.msgid or "") if lost.receipt == "delivered" else None

    async def _settle(self, message: OutboundMessage, give_back: str = "") -> None:
        """WeChat answered: nothing waits for a report; ``give_back`` the consent of a
        template whose notification certainly did not go out."""
        async with self.api.db.transaction() as conn:
            if message.outbox_id:
                await unconfirmed.forget(conn, message.outbox_id)
            if give_back:
                await consents.give_back(conn, message.address.address, give_back, utc_now())
