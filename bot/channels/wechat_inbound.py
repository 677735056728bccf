"""Reading what WeChat posts: one XML message or event into an InboundMessage.

Message and event shapes: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
and Receiving_event_pushes.html beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bot.channels.wechat_events import Report, parse_report
from bot.channels.wechat_xml import BadMessage, check_xml
from bot.clock import utc_now
from bot.logging import get_logger
from bot.messages import Address, Attachment, InboundMessage, Location

log = get_logger(__name__)

NAME = "wechat"


@dataclass(frozen=True, slots=True)
class Parsed:
    """A message or event read from the XML, with the media still to download."""

    message: InboundMessage
    media_id: str = ""
    reply_from: str = ""  # our account id (ToUserName), the sender of a passive reply
    report: Report | None = None  # consent or delivery report: stored, never answered
    scene: str = ""  # the parametric QR code scene of a subscribe or SCAN event


def parse_inbound(xml: str, commands: dict[str, str]) -> Parsed | None:
    """Map one WeChat XML message to an InboundMessage; None for events we ignore."""
    data = check_xml(xml)
    openid = str(data.get("FromUserName") or "")
    if not openid:
        raise BadMessage("no FromUserName")
    kind = str(data.get("MsgType") or "").lower()
    address = Address(NAME, openid)
    base: dict[str, Any] = {
        "address": address,
        "received_at": utc_now(),
        "raw": {"msg_type": kind},
    }
    reply_from = str(data.get("ToUserName") or "")
    if kind == "event":
        return _parse_event(data, base, commands, reply_from)
    msg_id = str(data.get("MsgId") or data.get("MsgID") or "")
    if not msg_id:
        raise BadMessage("message without MsgId")
    base["external_id"] = f"msg:{msg_id}"
    if kind == "text":
        text = str(data.get("Content") or "")
        return Parsed(InboundMessage(text=text, **base), reply_from=reply_from)
    if kind in ("image", "voice", "video", "shortvideo", "file"):
        media_id = str(data.get("MediaId") or "")
        att_kind = "video" if kind == "shortvideo" else kind
        ext = {"image": "jpg", "voice": str(data.get("Format") or "amr").lower(), "video": "mp4"}
        filename = str(data.get("Title") or "") if kind == "file" else ""
        attachment = Attachment(
            kind=att_kind,
            media_ref=f"wechat-media:{media_id}" if media_id else "",
            filename=filename or f"{att_kind}.{ext.get(att_kind, 'bin')}",
            size=_int(data.get("FileTotalLen")),
            recognition=str(data.get("Recognition") or "") if kind == "voice" else "",
        )
        if not media_id:
            raise BadMessage(f"{kind} message without MediaId")
        return Parsed(InboundMessage(attachment=attachment, **base), media_id, reply_from)
    if kind == "location":
        location = Location(
            latitude=_float(data.get("Location_X")),
            longitude=_float(data.get("Location_Y")),
            label=str(data.get("Label") or ""),
        )
        return Parsed(InboundMessage(location=location, **base), reply_from=reply_from)
    if kind == "link":
        text = "\n".join(str(data.get(k) or "") for k in ("Title", "Url") if data.get(k))
        return Parsed(InboundMessage(text=text, **base), reply_from=reply_from)
    # anything else (mini-program cards, ...) is read as an empty text: the engine
    # answers with its "did not understand" help instead of silence
    return Parsed(InboundMessage(**base), reply_from=reply_from)


def _parse_event(
    data: dict[str, Any], base: dict[str, Any], commands: dict[str, str], reply_from: str
) -> Parsed | None:
    event = str(data.get("Event") or "").lower()
    # WeChat identifies an event by FromUserName + CreateTime; the event and its key
    # keep two different taps within one second apart (a retry repeats both)
    key = str(data.get("EventKey") or "")
    base["external_id"] = f"ev:{data.get('FromUserName')}:{data.get('CreateTime')}:{event}:{key}"
    base["raw"] = {"msg_type": "event", "event": event}
    report = parse_report(event, data)
    if report is not None:
        return Parsed(InboundMessage(event=event, **base), reply_from=reply_from, report=report)
    # a parametric QR code: EventKey "qrscene_<scene>" with subscribe, "<scene>" with SCAN
    # (already a follower). Generating_a_Parametric_QR_Code.html, 事件推送
    if event in ("subscribe", "subscribe_scan"):
        scene = key.removeprefix("qrscene_") if key.startswith("qrscene_") else ""
        message = InboundMessage(event="subscribe", **base)
        return Parsed(message, reply_from=reply_from, scene=scene[:64])
    if event == "scan":
        # a follower scanning a poster: greeted with the menu (the draft they are filling
        # in, if any), never a new petition started under them
        message = InboundMessage(event="scan", command="start", **base)
        return Parsed(message, reply_from=reply_from, scene=key[:64]) if key else None
    if event == "unsubscribe":
        return Parsed(InboundMessage(event="unsubscribe", **base), reply_from=reply_from)
    if event == "click":
        command = commands.get(str(data.get("EventKey") or ""))
        if command is None:
            log.warning("wechat.unknown_menu_key", key=str(data.get("EventKey") or ""))
            return None
        return Parsed(InboundMessage(command=command, **base), reply_from=reply_from)
    return None  # VIEW, LOCATION reports, ...: nothing to answer


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise BadMessage("location without coordinates") from exc
    if not math.isfinite(number):  # "NaN" parses, and would not fit in a JSON state
        raise BadMessage("location with a non-finite coordinate")
    return number
