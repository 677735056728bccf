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
  (errcode 45015), and since June 2023 at most 5 of them in those 48 hours (45047); past
  either, a push falls back to a template message (bot/channels/wechat_templates.py), and
  a turn's replies that missed the passive reply go out as one customer-service message.
  https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
- Signed queries are used once (bot/channels/wechat_replay.py); with an AES key set,
  plaintext posts are refused unless XINFANG_WECHAT_ALLOW_PLAINTEXT is set; XML is read
  with bounded depth and size (bot/channels/wechat_xml.py).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from bot.channels.base import SendError, read_body, render_text, split_text
from bot.channels.spec import ChannelSpec
from bot.channels.wechat_api import (
    NO_CUSTOMER_SERVICE,
    Media,
    WeChatApi,
    WeChatApiError,
    WeChatTransportError,
)
from bot.channels.wechat_cli import add_cli
from bot.channels.wechat_config import WeChatConfig, WeChatConfigError, load_config
from bot.channels.wechat_events import record as record_report
from bot.channels.wechat_inbound import NAME, parse_inbound
from bot.channels.wechat_notices import Fallback, send_error
from bot.channels.wechat_oauth import SnsapiBase
from bot.channels.wechat_replay import NonceGuard
from bot.channels.wechat_subscribe import PATH as SUBSCRIBE_PATH
from bot.channels.wechat_subscribe import SubscribeConsent, SubscribePage
from bot.channels.wechat_templates import (
    DEFAULT_KIND,
)
from bot.channels.wechat_xml import BadMessage, check_xml, text_reply
from bot.clock import utc_now
from bot.dialogs.texts import Texts
from bot.intake import Intake, IntakeResult
from bot.keyed_locks import KeyedLocks
from bot.logging import get_logger
from bot.messages import (
    Address,
    Attachment,
    Capabilities,
    InboundMessage,
    OutboundMessage,
    Reply,
    SendResult,
)
from bot.metrics import REJECTED_REQUESTS
from bot.settings import Settings
from bot.storage import contacts, inbound, outbox, wechat_scenes
from bot.storage.db import Database
from bot.storage.files import TooLarge, remove
from bot.storage.tables import attachments
from bot.uploads import file_refusal
from bot.web.citizen import CONSENT_BLOCK
from bot.web.citizen_access import CITIZEN_ACCESS

log = get_logger(__name__)

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
TOO_LARGE_NOTE = (
    "您发送的{kind}超过 {limit}，未能保存到材料中。请压缩或分段后重新发送，也可以改用文字说明。"
)
KIND_WORDS = {"image": "图片", "voice": "语音", "video": "视频", "file": "文件"}


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


def one_message(
    notes: list[Reply], caps: Capabilities = CAPABILITIES
) -> Callable[[list[Reply]], list[Reply]]:
    """How a turn's replies go to the outbox: joined into one customer-service message.

    Since June 2023 a citizen's message allows only 5 customer-service messages in the
    next 48 hours (errcode 45047): a turn spends one, split only at the text limit.
    ``notes`` (the webhook's own, e.g. media too large) come first.
    """

    def join(replies: list[Reply]) -> list[Reply]:
        texts = [render_text(r, caps) for r in notes + replies]
        return [Reply(t) for t in fill("\n\n".join(texts))] if texts else []

    return join


def fill(text: str) -> list[str]:
    """Text cut into messages as full as TEXT_LIMIT_BYTES allows, at a line break when one
    is in the second half of a message."""
    parts: list[str] = []
    while not _fits(text):
        cut, size = 0, 0
        for ch in text:  # the longest prefix that fits
            size += len(ch.encode("utf-8"))
            if size > TEXT_LIMIT_BYTES:
                break
            cut += 1
        newline = text.rfind("\n", 0, cut)
        if newline > cut // 2:
            cut = newline
        parts.append(text[:cut].rstrip("\n"))
        text = text[cut:].lstrip("\n")
    return [*parts, text] if text or not parts else parts


# -- outbound --------------------------------------------------------------------------


class WeChatChannel:
    """WeChat as the outbox sees it: customer-service messages, then the fallback chain."""

    name = NAME
    capabilities: Capabilities

    def __init__(
        self,
        api: WeChatApi,
        config: WeChatConfig,
        *,
        template_id: str = "",
        timezone: str = "Asia/Shanghai",
        consent_url: str = "",
    ) -> None:
        """``consent_url``: the page where citizens consent to subscription notifications
        (replies that point to it carry its address), "" when there is none."""
        self.api = api
        self.config = config
        self.capabilities = replace(CAPABILITIES, consent_url=consent_url)
        self.template_id = template_id
        self.tz = ZoneInfo(timezone)
        self.fallback = Fallback(api, config, template_id, self.tz)

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send as customer-service text; outside the window or the quota, the next best
        way (:mod:`bot.channels.wechat_notices`: subscription notification, template)."""
        openid = message.address.address
        text = render_text(message.reply, self.capabilities)
        delivered = await self.fallback.earlier_attempt(message)
        if delivered is not None:  # an earlier attempt's notification did go out
            return delivered
        try:
            for part in pack([text]):
                await self.api.send_text(openid, part)
        except WeChatApiError as err:
            if err.errcode not in NO_CUSTOMER_SERVICE:
                raise send_error(err) from err
            return await self.fallback.send(message, text, err)
        except WeChatTransportError as err:
            raise SendError(str(err), retryable=True) from err
        return SendResult()

    async def already_sent(self, message: OutboundMessage) -> bool:
        """WeChat offers no look-up of a sent message: resend (templates carry client_msg_id)."""
        return False


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
        allow_plaintext: bool = False,
        max_skew_seconds: float = 300.0,
        attachments_dir: Path,
        max_upload_bytes: int,
        direct_seconds: float = DIRECT_SECONDS,
        wait_seconds: float = WAIT_SECONDS,
        capabilities: Capabilities = CAPABILITIES,
    ) -> None:
        self.intake = intake
        self.capabilities = capabilities
        self.db = db
        self.api = api
        self.config = config
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        # plaintext bodies are covered by no signature: refused once safe mode is set up
        self.allow_plaintext = allow_plaintext or not aes_key
        self.max_skew = max_skew_seconds
        self.nonces = NonceGuard(db, max_skew_seconds)
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
        if not aes and not self.allow_plaintext:
            return self._reject(403, "plaintext_refused")
        try:
            if aes:
                if self.crypto is None:
                    return self._reject(400, "aes_not_configured")
                check_xml(text)  # bounded: read before msg_signature can be checked
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
        # the message as read (decrypted in safe mode, where WeChat may encrypt a retry anew)
        if not await self.nonces.first_use(query["timestamp"], query["nonce"], text.encode()):
            return self._reject(403, "replayed_nonce")
        if parsed is None:
            return web.Response(text=SUCCESS)
        if parsed.report is not None:  # consent or delivery: stored, nothing to answer
            await record_report(self.db, self.config, parsed.report, channel=NAME)
            return web.Response(text=SUCCESS)

        msg = parsed.message
        notes: list[Reply] = []
        if parsed.scene:
            greeting, preselect = await self._scene(msg.address, parsed.scene)
            msg = replace(msg, preselect=preselect)  # for a petition started from here
            if greeting:
                notes.append(Reply(greeting))
        if parsed.media_id:
            msg, too_large = await self._fetch_media(msg, parsed.media_id, started + MEDIA_SECONDS)
            if too_large and msg.attachment is not None:
                notes.append(self._too_large_note(msg.attachment.kind))
        # At wait_seconds a passive reply is pointless: WeChat gave up on this request at 5 s
        # and retries it. From then on _process diverts a direct answer to the outbox, and
        # "success" is sent after the commit, never before it: if this process dies before
        # the commit, the retry brings the message back.
        late = asyncio.Event()
        timer = loop.call_at(started + self.wait_seconds, late.set)
        try:
            result = await self._process(msg, started + self.direct_seconds, late, notes)
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
        if not result.direct or not (result.replies or notes):
            return web.Response(text=SUCCESS)
        messages = pack([render_text(r, self.capabilities) for r in notes + result.replies])
        if len(messages) > 1 and not result.duplicate:
            # what did not fit the passive reply: as few customer-service messages as the
            # text limit allows (5 per 48 hours since June 2023)
            rest = fill("\n\n".join(messages[1:]))
            await self._enqueue(result, msg.address, rest, delay=1.0)
        return self._passive(messages[0], msg.address.address, parsed.reply_from, query, aes)

    async def _process(
        self, msg: InboundMessage, deadline: float, late: asyncio.Event, notes: list[Reply]
    ) -> Any:
        """Run intake; a direct answer that comes back after ``late`` was set (the request
        will be answered "success") goes to the outbox instead: nothing lost or sent twice.
        Replies that go to the outbox go as one customer-service message (:func:`one_message`).
        """
        join = one_message(notes, self.capabilities)
        async with self._locks(msg.address):
            result = await self.intake.handle(msg, direct_deadline=deadline, join=join)
            if late.is_set() and result.direct and not result.duplicate:
                if result.replies or notes:
                    texts = [r.text for r in join(result.replies)]
                    await self._enqueue(result, msg.address, texts, divert=True)
                result = replace(result, direct=False)
            return result

    async def _scene(self, address: Address, scene: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Keep the QR scene on the contact; the scene's greeting in the contact's language
        and what it pre-selects (nothing for a scene the config does not name)."""
        async with self.db.transaction() as conn:
            contact = await contacts.get_or_create(conn, address, utc_now())
            await wechat_scenes.remember(conn, contact.id, scene, utc_now())
        found = self.config.scene(scene)
        log.info("wechat.scene", scene=scene, known=found is not None)
        return (found.greet(contact.lang), found.preselect) if found is not None else ("", ())

    def _too_large_note(self, kind: str) -> Reply:
        size = self.max_upload_bytes
        limit = f"{size // 1_048_576} MB" if size >= 1_048_576 else f"{max(1, size // 1024)} KB"
        return Reply(TOO_LARGE_NOTE.format(kind=KIND_WORDS.get(kind, "文件"), limit=limit))

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
        reply = text_reply(account, openid, content)
        if aes and self.crypto is not None:
            reply = self.crypto.encrypt_message(reply, secrets.token_hex(8))
        return web.Response(text=reply, content_type="application/xml")

    # -- media --

    async def _fetch_media(
        self, msg: InboundMessage, media_id: str, until: float
    ) -> tuple[InboundMessage, bool]:
        """Download the media into attachment storage, within a time budget.

        A retry of a message already stored is not downloaded again. When the budget
        runs out, the attachment keeps the platform reference and is fetched later.
        Media over the upload limit keeps the reference for good (True: tell the citizen).
        """
        assert msg.attachment is not None
        async with self.db.read() as conn:
            if await inbound.stored_replies(conn, NAME, msg.external_id) is not None:
                return msg, False
        if msg.attachment.size > self.max_upload_bytes:  # FileTotalLen of a file message
            log.info("wechat.media_too_large", size=msg.attachment.size)
            return msg, True
        if await file_refusal(self.db, self.intake.engine, msg.address, utc_now()):
            return msg, False  # nothing to keep it with: not downloaded (the dialog says why)
        budget = max(0.1, until - asyncio.get_running_loop().time())
        try:
            media = await asyncio.wait_for(self._download(media_id, msg.attachment), budget)
        except TooLarge:
            log.info("wechat.media_too_large", limit=self.max_upload_bytes)
            return msg, True
        except (TimeoutError, WeChatApiError, WeChatTransportError, OSError) as exc:
            log.warning("wechat.media_deferred", reason=type(exc).__name__)
            later = self._fetch_later(media_id, msg.attachment, msg.address)
            self._spawn(later, name="wechat-media")
            return msg, False
        return replace(msg, attachment=_stored(msg.attachment, media)), False

    async def _download(self, media_id: str, att: Attachment) -> Media:
        return await self.api.download_media(
            media_id, self.attachments_dir, self.max_upload_bytes, fallback_name=att.filename
        )

    async def _fetch_later(self, media_id: str, att: Attachment, address: Address) -> None:
        """Download media after the answer and point its attachment row at the file."""
        for attempt in range(3):
            try:
                media = await self._download(media_id, att)
                break
            except TooLarge:
                # the reference stays; the citizen, answered already, is told separately
                log.info("wechat.media_too_large", limit=self.max_upload_bytes, late=True)
                await self._tell_too_large(address, att.kind)
                return
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

    async def _tell_too_large(self, address: Address, kind: str) -> None:
        async with self.db.transaction() as conn:
            contact = await contacts.find(conn, address)
            if contact is not None:
                await outbox.enqueue(
                    conn,
                    contact_id=contact.id,
                    address=address,
                    reply=self._too_large_note(kind),
                    now=utc_now(),
                    kind="reply",
                )


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
        mp_base=settings.wechat_mp_base,
    )
    config = load_config(settings.config_dir)
    if settings.wechat_template_id and not config.templates.notice(DEFAULT_KIND).fields:
        raise WeChatConfigError(
            "XINFANG_WECHAT_TEMPLATE_ID is set but config/wechat.yaml names no template fields"
        )
    public = settings.public_url.rstrip("/")
    return WeChatChannel(
        api,
        config,
        template_id=settings.wechat_template_id,
        timezone=settings.timezone,
        consent_url=public + SUBSCRIBE_PATH if config.subscribe and public else "",
    )


def install_pages(
    app: web.Application, api: WeChatApi, config: WeChatConfig, s: Settings, texts: Texts
) -> None:
    """The citizen page inside WeChat: 网页授权 (snsapi_base) as a way into /my, the 订阅通知
    consent block of /my and the case page, and the page of its own, /my/subscribe (all
    mounted after bot.web.citizen.install)."""
    access = app[CITIZEN_ACCESS]
    access.ways.append(
        SnsapiBase(api, access, public_url=s.public_url, oauth_base=s.wechat_oauth_base)
    )
    block = SubscribeConsent(api, config, public_url=s.public_url)
    app[CONSENT_BLOCK] = block
    app.router.add_get(SUBSCRIBE_PATH, SubscribePage(block, access, texts).page)


def install(app: web.Application, services: Any) -> None:
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
        allow_plaintext=s.wechat_allow_plaintext,
        max_skew_seconds=s.wechat_max_skew_seconds,
        attachments_dir=s.attachments_dir,
        max_upload_bytes=s.max_upload_bytes,
        capabilities=channel.capabilities,
    )
    if s.wechat_aes_key and s.wechat_allow_plaintext:
        log.warning(
            "wechat.plaintext_allowed",
            detail="XINFANG_WECHAT_ALLOW_PLAINTEXT: unencrypted posts are accepted although "
            "an AES key is set; their body is not signed. Unset it once the account is "
            "in safe mode.",
        )
    hook.add_routes(app)
    app.on_shutdown.append(hook.shutdown)
    install_pages(app, channel.api, channel.config, s, services.engine.texts)

    async def close(_app: web.Application) -> None:
        await channel.api.close()

    app.on_cleanup.append(close)


SPEC = ChannelSpec(
    name=NAME,
    labels=("微信", "WeChat"),
    capabilities=CAPABILITIES,
    build=build_channel,
    enabled=lambda s: s.wechat_enabled,
    install=install,
    add_cli=add_cli,
    settings=("XINFANG_WECHAT_TOKEN", "XINFANG_WECHAT_APP_ID"),
)
