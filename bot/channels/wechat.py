"""WeChat Official Account channel: the /wechat webhook in, the customer-service API out.

Platform rules this module follows (DESIGN §5; vendor docs linked where they apply):

- URL verification: GET with signature/timestamp/nonce/echostr; answer echostr.
  https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html
- Messages arrive as XML in plaintext, compatible or safe (AES) mode; ``signature`` is
  always checked, ``msg_signature`` in AES mode (wechatpy's WeChatCrypto). A timestamp
  outside the configured window is a replay and refused like a forged signature.
  https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html
- WeChat waits 5 s for the answer and retries three times with the same MsgId (events:
  FromUserName + CreateTime). A reply ready inside the deadline is the passive reply;
  otherwise the webhook answers "success" once the message is committed, and the replies
  go out through the outbox (customer-service messages).
  https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html
- Customer-service messages reach a user only within 48 h of their last message
  (errcode 45015); later pushes fall back to a template message.
  https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import yaml
from aiohttp import web
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.channels.base import SendError, read_body, render_text, split_text
from bot.channels.wechat_api import (
    BUSY_ERRORS,
    OUT_OF_WINDOW,
    TOKEN_ERRORS,
    UNREACHABLE_ERRORS,
    Media,
    WeChatApi,
    WeChatApiError,
    WeChatTransportError,
)
from bot.clock import utc_now
from bot.intake import Intake, IntakeResult
from bot.keyed_locks import KeyedLocks
from bot.logging import get_logger
from bot.messages import (
    Address,
    Attachment,
    Capabilities,
    InboundMessage,
    Location,
    OutboundMessage,
    Reply,
    SendResult,
)
from bot.metrics import REJECTED_REQUESTS
from bot.settings import Settings
from bot.storage import inbound, outbox
from bot.storage.db import Database
from bot.storage.files import remove
from bot.storage.tables import attachments
from bot.uploads import file_refusal

log = get_logger(__name__)

NAME = "wechat"
# Text messages (passive and customer-service) carry at most 2048 bytes of UTF-8;
# parts stay a little below it.
TEXT_LIMIT_BYTES = 2000
CAPABILITIES = Capabilities(
    buttons=False,
    max_text_len=TEXT_LIMIT_BYTES // 3,  # characters, for Chinese text (3 bytes each)
    attachments=("image", "voice", "file", "video"),
    location=True,
    push=True,
    rate_per_second=20.0,
)
MAX_BODY_BYTES = 64 * 1024  # WeChat's XML messages are a few hundred bytes
DIRECT_SECONDS = 3.5  # intake must commit a direct answer before this
WAIT_SECONDS = 4.5  # the webhook answers by then; WeChat gives up at 5
MEDIA_SECONDS = 2.0  # media/get inside the request; later in the background
SUCCESS = "success"  # "no passive reply": WeChat neither retries nor shows an error


# -- configuration ---------------------------------------------------------------------


class WeChatConfigError(Exception):
    """config/wechat.yaml is missing or invalid."""


@dataclass(frozen=True, slots=True)
class TemplateField:
    """One template data field: a format string over the push and its maximum length."""

    value: str
    max: int = 200


@dataclass(frozen=True, slots=True)
class WeChatConfig:
    """The menu and the template field mapping from config/wechat.yaml."""

    buttons: tuple[dict[str, Any], ...]
    commands: dict[str, str]
    template_url: str = ""
    template_fields: dict[str, TemplateField] = field(default_factory=dict)

    def menu(self) -> dict[str, Any]:
        """The menu/create request body."""
        return {"button": [dict(b) for b in self.buttons]}


def load_config(config_dir: Path) -> WeChatConfig:
    """Read and validate config/wechat.yaml."""
    path = config_dir / "wechat.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise WeChatConfigError(f"{path}: {exc}") from exc
    menu = data.get("menu") or {}
    buttons = menu.get("buttons") or []
    commands = {str(k): str(v) for k, v in (menu.get("commands") or {}).items()}
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise WeChatConfigError(f"{path}: menu.buttons must list 1 to 3 buttons")
    for button in buttons:
        if not isinstance(button, dict) or not button.get("name"):
            raise WeChatConfigError(f"{path}: every menu button needs a name")
        if button.get("type") == "click" and str(button.get("key")) not in commands:
            raise WeChatConfigError(f"{path}: menu key {button.get('key')} has no command")
    template = data.get("template") or {}
    fields: dict[str, TemplateField] = {}
    for name, spec in (template.get("fields") or {}).items():
        if not isinstance(spec, dict) or "value" not in spec:
            raise WeChatConfigError(f"{path}: template field {name} needs a value")
        fields[str(name)] = TemplateField(str(spec["value"]), int(spec.get("max", 200)))
    return WeChatConfig(
        buttons=tuple(buttons),
        commands=commands,
        template_url=str(template.get("url") or ""),
        template_fields=fields,
    )


# -- text limits -----------------------------------------------------------------------


def _fits(text: str) -> bool:
    return len(text.encode("utf-8")) <= TEXT_LIMIT_BYTES


def split_bytes(text: str) -> list[str]:
    """Split text into parts of at most TEXT_LIMIT_BYTES of UTF-8, at line breaks if possible."""
    if _fits(text):
        return [text]
    parts: list[str] = []
    for part in split_text(text, CAPABILITIES.max_text_len):
        limit = CAPABILITIES.max_text_len
        pending = [part]
        while pending:
            piece = pending.pop(0)
            if _fits(piece):
                parts.append(piece)
                continue
            limit = max(1, limit // 2)  # 4-byte characters (emoji): cut smaller
            pending = split_text(piece, limit) + pending
    return parts


def pack(texts: list[str]) -> list[str]:
    """Whole replies packed into as few WeChat messages as fit, in order."""
    messages: list[str] = []
    for text in texts:
        for part in split_bytes(text):
            if messages and _fits(messages[-1] + "\n\n" + part):
                messages[-1] += "\n\n" + part
            else:
                messages.append(part)
    return messages


# -- inbound parsing ---------------------------------------------------------------------


class BadMessage(Exception):
    """The body is not a WeChat message we can read."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """A message or event read from the XML, with the media still to download."""

    message: InboundMessage
    media_id: str = ""
    reply_from: str = ""  # our account id (ToUserName), the sender of a passive reply


def check_xml(xml: str) -> dict[str, Any]:
    """Read a WeChat XML message into a dict of its fields.

    Malformed XML and any DTD or entity declaration (WeChat never sends one) are refused.
    WeChat messages are one flat ``<xml>`` element (events may nest a block, kept as a
    dict), so one defusedxml parse is all the reading needed; wechatpy's parse_message
    would parse the same text a second time through xmltodict, which cost a third of
    the webhook's parsing time (docs/benchmarks.md).
    """
    try:
        root = safe_fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError) as exc:
        raise BadMessage(type(exc).__name__) from exc
    if root.tag != "xml":
        raise BadMessage("root element is not <xml>")
    return _fields(root)


def _fields(element: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for child in element:
        data[child.tag] = _fields(child) if len(child) else (child.text or "")
    return data


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
    if event in ("subscribe", "subscribe_scan"):
        return Parsed(InboundMessage(event="subscribe", **base), reply_from=reply_from)
    if event == "unsubscribe":
        return Parsed(InboundMessage(event="unsubscribe", **base), reply_from=reply_from)
    if event == "click":
        command = commands.get(str(data.get("EventKey") or ""))
        if command is None:
            log.warning("wechat.unknown_menu_key", key=str(data.get("EventKey") or ""))
            return None
        return Parsed(InboundMessage(command=command, **base), reply_from=reply_from)
    return None  # VIEW, LOCATION reports, TEMPLATESENDJOBFINISH, ...: nothing to answer


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


# -- outbound --------------------------------------------------------------------------


class WeChatChannel:
    """WeChat as the outbox sees it: customer-service messages, template fallback."""

    name = NAME
    capabilities = CAPABILITIES

    def __init__(self, api: WeChatApi, config: WeChatConfig, *, template_id: str = "") -> None:
        self.api = api
        self.config = config
        self.template_id = template_id

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send as customer-service text; outside the 48-hour window, as a template."""
        openid = message.address.address
        text = render_text(message.reply, CAPABILITIES)
        msgid = ""
        try:
            for part in pack([text]):
                await self.api.send_text(openid, part)
        except WeChatApiError as err:
            if err.errcode != OUT_OF_WINDOW:
                raise _send_error(err) from err
            if message.kind == "broadcast":
                # Template messages are for service notifications about the user's own
                # business only, never for mass messages (WeChat template message rules:
                # https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Operation_Specifications.html)
                raise SendError(
                    "45015: outside the 48-hour window; broadcasts never use templates",
                    retryable=False,
                ) from err
            if not self.template_id:
                raise SendError(
                    "45015: outside the 48-hour window and no template configured",
                    retryable=False,
                ) from err
            log.info("wechat.template_fallback", outbox_id=message.outbox_id)
            msgid = await self._send_template(openid, text, message.template)
        except WeChatTransportError as err:
            raise SendError(str(err), retryable=True) from err
        return SendResult(external_id=msgid)

    async def _send_template(self, openid: str, text: str, extra: dict[str, Any]) -> str:
        context = _Blank({k: str(v) for k, v in extra.items()})
        context["text"] = text
        data = {
            name: spec.value.format_map(context)[: spec.max]
            for name, spec in self.config.template_fields.items()
        }
        try:
            result = await self.api.send_template(
                openid, self.template_id, data, url=self.config.template_url
            )
        except WeChatApiError as err:
            raise _send_error(err) from err
        except WeChatTransportError as err:
            raise SendError(str(err), retryable=True) from err
        return str(result.get("msgid", ""))

    async def already_sent(self, message: OutboundMessage) -> bool:
        """WeChat offers no way to look a sent message up: resend (at most a duplicate)."""
        return False


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _send_error(err: WeChatApiError) -> SendError:
    reason = f"{err.errcode}: {err.errmsg}"
    if err.errcode in BUSY_ERRORS:
        # 45009 is a daily quota: waiting minutes, not seconds, is what helps
        return SendError(reason, retryable=True, retry_after=600.0 if err.errcode > 0 else None)
    if err.errcode in TOKEN_ERRORS:  # still rejected after one refresh
        return SendError(reason, retryable=True)
    if err.errcode in UNREACHABLE_ERRORS:
        return SendError(reason, retryable=False, unreachable=True)
    return SendError(reason, retryable=False)


# -- webhook ---------------------------------------------------------------------------


class WeChatWebhook:
    """GET/POST /wechat: verify, parse, hand to intake, answer inside WeChat's deadline."""

    def __init__(
        self,
        intake: Intake,
        db: Database,
        api: WeChatApi,
        config: WeChatConfig,
        *,
        token: str,
        app_id: str,
        aes_key: str = "",
        max_skew_seconds: float = 300.0,
        attachments_dir: Path,
        max_upload_bytes: int,
        direct_seconds: float = DIRECT_SECONDS,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        self.intake = intake
        self.db = db
        self.api = api
        self.config = config
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self.max_skew = max_skew_seconds
        self.attachments_dir = attachments_dir
        self.max_upload_bytes = max_upload_bytes
        self.direct_seconds = direct_seconds
        self.wait_seconds = wait_seconds
        self.tasks: set[asyncio.Task[Any]] = set()
        self._locks = KeyedLocks()

    def add_routes(self, app: web.Application) -> None:
        """Mount GET and POST /wechat."""
        app.router.add_get("/wechat", self.verify_url)
        app.router.add_post("/wechat", self.receive)

    async def shutdown(self, _app: web.Application | None = None) -> None:
        """Wait for media downloads deferred past their request (see _fetch_media)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    # -- checks --

    def _reject(self, status: int, reason: str) -> web.Response:
        REJECTED_REQUESTS.labels(NAME, reason).inc()
        log.warning("wechat.rejected", status=status, reason=reason)
        return web.Response(status=status, text=reason)

    def _signed(self, query: Any) -> str | None:
        """None when the query's signature and timestamp are good, else the reason."""
        signature, timestamp, nonce = (
            query.get(k, "") for k in ("signature", "timestamp", "nonce")
        )
        if not (signature and timestamp and nonce):
            return "missing_signature"
        try:
            check_signature(self.token, signature, timestamp, nonce)
        except InvalidSignatureException:
            return "bad_signature"
        try:
            skew = abs(time.time() - int(timestamp))
        except ValueError:
            return "bad_timestamp"
        if skew > self.max_skew:
            return "stale_timestamp"
        return None

    async def verify_url(self, request: web.Request) -> web.Response:
        """GET /wechat: the server-address check when the URL is configured."""
        reason = self._signed(request.query)
        if reason is not None:
            return self._reject(403, reason)
        return web.Response(text=request.query.get("echostr", ""))

    # -- POST --

    async def receive(self, request: web.Request) -> web.StreamResponse:
        """POST /wechat: one message or event."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        query = request.query
        reason = self._signed(query)
        if reason is not None:
            return self._reject(403, reason)
        body = await read_body(request, MAX_BODY_BYTES)
        if body is None:
            return self._reject(413, "too_large")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return self._reject(400, "not_utf8")
        aes = query.get("encrypt_type", "raw").lower() == "aes"
        try:
            if aes:
                if self.crypto is None:
                    return self._reject(400, "aes_not_configured")
                check_xml(text)
                text = self.crypto.decrypt_message(
                    text, query.get("msg_signature", ""), query["timestamp"], query["nonce"]
                )
            parsed = parse_inbound(text, self.config.commands)
        except (InvalidSignatureException, InvalidAppIdException):
            return self._reject(403, "bad_msg_signature")
        except BadMessage as exc:
            return self._reject(400, f"malformed:{exc}")
        except (KeyError, ValueError, TypeError) as exc:  # Encrypt missing, bad base64/padding
            return self._reject(400, f"malformed:{type(exc).__name__}")
        if parsed is None:
            return web.Response(text=SUCCESS)

        msg = parsed.message
        if parsed.media_id:
            msg = await self._fetch_media(msg, parsed.media_id, started + MEDIA_SECONDS)
        # At wait_seconds a passive reply is pointless: WeChat gave up on this request at 5 s
        # and retries it. From then on _process diverts a direct answer to the outbox, and
        # "success" is sent after the commit, never before it: if this process dies before
        # the commit, the retry brings the message back.
        late = asyncio.Event()
        timer = loop.call_at(started + self.wait_seconds, late.set)
        try:
            result = await self._process(msg, started + self.direct_seconds, late)
        except Exception:
            log.exception(
                "wechat.intake_failed", address=msg.address.address, kind=msg.raw.get("msg_type")
            )
            return web.Response(status=500, text="error")  # rolled back: WeChat retries
        finally:
            timer.cancel()
        if late.is_set():
            log.info(
                "wechat.answered_late", address=msg.address.address, kind=msg.raw.get("msg_type")
            )
            return web.Response(text=SUCCESS)
        if not result.direct or not result.replies:
            return web.Response(text=SUCCESS)
        messages = pack([render_text(r, CAPABILITIES) for r in result.replies])
        if len(messages) > 1 and not result.duplicate:
            await self._enqueue(result, msg.address, messages[1:], delay=1.0)
        return self._passive(messages[0], msg.address.address, parsed.reply_from, query, aes)

    async def _process(self, msg: InboundMessage, deadline: float, late: asyncio.Event) -> Any:
        """Run intake; a direct answer that comes back after ``late`` was set (the request
        will be answered "success") goes to the outbox instead: nothing lost or sent twice."""
        async with self._locks(msg.address):
            result = await self.intake.handle(msg, direct_deadline=deadline)
            if late.is_set() and result.direct and not result.duplicate and result.replies:
                texts = [render_text(r, CAPABILITIES) for r in result.replies]
                await self._enqueue(result, msg.address, pack(texts), divert=True)
                result = replace(result, direct=False)
            return result

    async def _enqueue(
        self,
        result: IntakeResult,
        address: Address,
        texts: list[str],
        *,
        delay: float = 0.0,
        divert: bool = False,
    ) -> None:
        now = utc_now()
        async with self.db.transaction() as conn:
            for text in texts:
                await outbox.enqueue(
                    conn,
                    contact_id=result.contact_id,
                    address=address,
                    reply=Reply(text),
                    # the overflow of a passive reply waits a moment so that it
                    # arrives after the passive reply it continues
                    now=now + timedelta(seconds=delay),
                    kind="reply",
                )
            if divert:  # a retry of this message must now get "success", not the text
                await inbound.save_replies(conn, result.inbound_id, result.replies, "outbox")

    def _passive(
        self, content: str, openid: str, account: str, query: Any, aes: bool
    ) -> web.Response:
        reply = TextReply(source=account, target=openid, content=content).render()
        if aes and self.crypto is not None:
            reply = self.crypto.encrypt_message(reply, secrets.token_hex(8))
        return web.Response(text=reply, content_type="application/xml")

    # -- media --

    async def _fetch_media(
        self, msg: InboundMessage, media_id: str, until: float
    ) -> InboundMessage:
        """Download the media into attachment storage, within a time budget.

        A retry of a message already stored is not downloaded again. When the budget
        runs out, the attachment keeps the platform reference and is fetched later.
        """
        assert msg.attachment is not None
        async with self.db.read() as conn:
            if await inbound.stored_replies(conn, NAME, msg.external_id) is not None:
                return msg
        if await file_refusal(self.db, self.intake.engine, msg.address, utc_now()):
            return msg  # nothing to keep it with: not downloaded (the dialog says why)
        budget = max(0.1, until - asyncio.get_running_loop().time())
        try:
            media = await asyncio.wait_for(self._download(media_id, msg.attachment), budget)
        except (TimeoutError, WeChatApiError, WeChatTransportError, OSError) as exc:
            log.warning("wechat.media_deferred", reason=type(exc).__name__)
            self._spawn(self._fetch_later(media_id, msg.attachment), name="wechat-media")
            return msg
        return replace(msg, attachment=_stored(msg.attachment, media))

    async def _download(self, media_id: str, att: Attachment) -> Media:
        return await self.api.download_media(
            media_id, self.attachments_dir, self.max_upload_bytes, fallback_name=att.filename
        )

    async def _fetch_later(self, media_id: str, att: Attachment) -> None:
        """Download media after the answer and point its attachment row at the file."""
        for attempt in range(3):
            try:
                media = await self._download(media_id, att)
                break
            except (WeChatApiError, WeChatTransportError, OSError, TimeoutError) as exc:
                log.warning("wechat.media_retry", attempt=attempt, reason=type(exc).__name__)
                await asyncio.sleep(2.0 * (attempt + 1))
        else:
            log.error("wechat.media_lost", reason="download failed three times")
            return
        # the attachment row is written by intake; wait for it (bounded)
        for _ in range(30):
            async with self.db.transaction() as conn:
                updated = await conn.execute(
                    attachments.update()
                    .where(attachments.c.media_ref == att.media_ref)
                    .values(media_ref=media.key, size=media.size, mime=media.mime)
                )
            if updated.rowcount:
                return
            await asyncio.sleep(1.0)
        # no row took it (the dialog did not keep the file): nothing keeps the download
        remove(self.attachments_dir, media.key)
        log.warning("wechat.media_unlinked", key=media.key)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("wechat.task_failed", task=task.get_name(), error=repr(task.exception()))


def _stored(att: Attachment, media: Media) -> Attachment:
    return replace(
        att,
        media_ref=media.key,
        mime=media.mime,
        size=media.size,
        filename=media.filename or att.filename,
    )


# -- wiring ----------------------------------------------------------------------------


def build_channel(settings: Settings, db: Database) -> WeChatChannel:
    """The outbound channel, from settings and config/wechat.yaml."""
    api = WeChatApi(
        db,
        app_id=settings.wechat_app_id,
        app_secret=settings.wechat_app_secret,
        api_base=settings.wechat_api_base,
    )
    return WeChatChannel(
        api, load_config(settings.config_dir), template_id=settings.wechat_template_id
    )


def install(services: Any, app: web.Application) -> WeChatWebhook:
    """Register the channel (if build_services did not) and mount the webhook."""
    s: Settings = services.settings
    channel = services.channels.get(NAME)
    if not isinstance(channel, WeChatChannel):
        channel = build_channel(s, services.db)
        services.channels[NAME] = channel
    hook = WeChatWebhook(
        services.intake,
        services.db,
        channel.api,
        channel.config,
        token=s.wechat_token,
        app_id=s.wechat_app_id,
        aes_key=s.wechat_aes_key,
        max_skew_seconds=s.wechat_max_skew_seconds,
        attachments_dir=s.attachments_dir,
        max_upload_bytes=s.max_upload_bytes,
    )
    hook.add_routes(app)
    app.on_shutdown.append(hook.shutdown)

    async def close(_app: web.Application) -> None:
        await channel.api.close()

    app.on_cleanup.append(close)
    return hook


def add_cli(sub: Any) -> None:
    """Add `xinfang wechat menu` to the command line."""
    wechat = sub.add_parser("wechat", help="WeChat Official Account administration")
    actions = wechat.add_subparsers(dest="wechat_action", required=True, metavar="ACTION")
    menu = actions.add_parser("menu", help="install the custom menu from config/wechat.yaml")
    menu.set_defaults(func=_cli_menu)


def _cli_menu(settings: Settings, _args: Any) -> int:
    import sys

    from bot.storage.migrate import ensure_schema

    if not (settings.wechat_app_id and settings.wechat_app_secret):
        print(
            "xinfang: set XINFANG_WECHAT_APP_ID and XINFANG_WECHAT_APP_SECRET first",
            file=sys.stderr,
        )
        return 2
    config = load_config(settings.config_dir)
    db = Database(settings.effective_database_url)

    async def main() -> int:
        await ensure_schema(db, auto_upgrade=settings.auto_migrate)
        api = build_channel(settings, db).api
        try:
            await api.create_menu(config.menu())
        except (WeChatApiError, WeChatTransportError) as exc:
            print(f"xinfang: menu not installed: {exc}", file=sys.stderr)
            return 1
        finally:
            await api.close()
            await db.dispose()
        names = " / ".join(str(b["name"]) for b in config.buttons)
        print(f"menu installed: {names}")
        return 0

    return asyncio.run(main())
