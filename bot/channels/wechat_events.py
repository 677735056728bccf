"""WeChat's reports in the webhook: consent to subscription notifications and delivery.

- ``subscribe_msg_popup_event``: the citizen answered the consent pop-up (accept/reject
  per template, one ``List`` item each); ``subscribe_msg_change_event``: turned a template
  off in the service-notification settings (reject); ``subscribe_msg_sent_event``: the
  result of a notification sent (ErrorCode 0, or why it failed); one whose bizsend answer
  was lost settles the waiting send (:mod:`bot.storage.wechat_unconfirmed`).
  https://developers.weixin.qq.com/doc/offiaccount/Subscription_Messages/api.html (事件推送)
- ``TEMPLATESENDJOBFINISH``: a template message's delivery, Status ``success``,
  ``failed:user block`` or ``failed: system failed``.
  https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html

None of them is a message of the citizen: they change stored state and get "success".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.channels.wechat_config import WeChatConfig
from bot.channels.wechat_xml import items
from bot.clock import utc_now
from bot.logging import get_logger
from bot.storage import outbox
from bot.storage import wechat_consents as consents
from bot.storage import wechat_unconfirmed as unconfirmed
from bot.storage.db import Database

log = get_logger(__name__)

CONSENT_EVENTS = {
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
}
SENT_EVENT = ("subscribe_msg_sent_event", "SubscribeMsgSentEvent")
TEMPLATE_FINISHED = "templatesendjobfinish"
REPORT_SKEW = timedelta(seconds=60)  # WeChat's CreateTime against our clock
REPORT_EVENTS = frozenset({*CONSENT_EVENTS, SENT_EVENT[0], TEMPLATE_FINISHED})


@dataclass(frozen=True, slots=True)
class Report:
    """What one report event says: consent per template, and delivery per message id."""

    event: str
    openid: str
    created: int  # CreateTime: WeChat's retry of the event repeats it
    consent: tuple[tuple[str, bool], ...] = ()  # (template id, accepted)
    # (message id, delivered | blocked | failed, the subscription template id or "")
    receipts: tuple[tuple[str, str, str], ...] = ()


def parse_report(event: str, data: dict[str, Any]) -> Report | None:
    """The report an event carries; None when ``event`` is not a report."""
    openid = str(data.get("FromUserName") or "")
    try:
        created = int(data.get("CreateTime") or 0)
    except ValueError:
        created = 0
    if event in CONSENT_EVENTS:
        block = data.get(CONSENT_EVENTS[event])
        found = []
        for item in _list(block):
            template_id = str(item.get("TemplateId") or "")
            status = str(item.get("SubscribeStatusString") or "").lower()
            if template_id and status in ("accept", "reject"):
                found.append((template_id, status == "accept"))
        return Report(event, openid, created, consent=tuple(found))
    if event == SENT_EVENT[0]:
        consent, receipts = [], []
        for item in _list(data.get(SENT_EVENT[1])):
            receipt = _sent_receipt(str(item.get("ErrorCode") or "0"), item.get("ErrorStatus"))
            msgid = str(item.get("MsgID") or item.get("MsgId") or "")
            if msgid:
                receipts.append((msgid, receipt, str(item.get("TemplateId") or "")))
            if receipt == "blocked" and item.get("TemplateId"):
                consent.append((str(item["TemplateId"]), False))
        return Report(event, openid, created, consent=tuple(consent), receipts=tuple(receipts))
    if event == TEMPLATE_FINISHED:
        msgid = str(data.get("MsgID") or data.get("MsgId") or "")
        status = str(data.get("Status") or "").lower()
        receipt = _sent_receipt("0" if status == "success" else "-", status)
        return Report(event, openid, created, receipts=((msgid, receipt, ""),) if msgid else ())
    return None


def _list(block: Any) -> list[dict[str, Any]]:
    if not isinstance(block, dict):
        return []
    return [item for item in items(block.get("List")) if isinstance(item, dict)]


def _sent_receipt(errcode: str, status: Any) -> str:
    if errcode == "0":
        return "delivered"
    words = str(status or "").lower()
    return "blocked" if any(w in words for w in ("block", "refuse", "reject")) else "failed"


async def record(db: Database, config: WeChatConfig, report: Report, *, channel: str) -> None:
    """Store what a report says, in one transaction (``channel``: the outbox rows' channel).

    Consent to a template the office did not configure is not kept: nothing would use it
    (a template added later asks again)."""
    now = utc_now()
    async with db.transaction() as conn:
        for template_id, accepted in report.consent:
            template = config.subscribe_template(template_id)
            if template is None:
                log.info("wechat.consent_unknown_template", kind=report.event)
                continue
            if accepted:
                counted = await consents.grant(
                    conn,
                    report.openid,
                    template_id,
                    long_term=template.long_term,
                    now=now,
                    event=report.created or None,
                )
                if not counted:
                    continue  # WeChat's retry of an event already counted
            else:
                await consents.revoke(conn, report.openid, template_id, now)
            log.info("wechat.consent", kind=report.event, accepted=accepted, template=template_id)
        for msgid, receipt, template_id in report.receipts:
            row = await outbox.record_receipt(conn, channel, msgid, receipt)
            if row is None and template_id:  # the report of a send whose answer was lost
                reported = datetime.fromtimestamp(report.created, UTC) if report.created else now
                row = await unconfirmed.confirm(
                    conn, report.openid, template_id, msgid, receipt, reported + REPORT_SKEW
                )
            log.info("wechat.delivery_report", kind=report.event, receipt=receipt, outbox_id=row)
