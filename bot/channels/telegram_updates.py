"""Telegram updates: what one Bot API update means for us, and its way through intake.

Shared by the webhook (``bot.channels.telegram``) and the poller
(``bot.channels.telegram_polling``); the reasons for each choice are in the webhook's
module docstring.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from telegram import (
    Bot,
    Message,
    Update,
)
from telegram.error import (
    BadRequest,
    TelegramError,
)

from bot.clock import utc_now
from bot.dialogs.engine import starts_petition
from bot.domain.tracking import parse_tracking_no
from bot.intake import Intake
from bot.logging import get_logger
from bot.messages import (
    Address,
    Attachment,
    InboundMessage,
    Location,
    Reply,
)
from bot.storage import inbound, outbox
from bot.storage.db import Database
from bot.storage.files import TooLarge, save_stream
from bot.uploads import IDLE, file_refusal

log = get_logger(__name__)

NAME = "telegram"
TAP_SEPARATOR = "|"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
HANDLED_UPDATES = frozenset(ALLOWED_UPDATES)
OFFSET_KEY = "telegram.offset"
CLEAR_KEYBOARD = "clear_keyboard"
DOWNLOAD_TIMEOUT_SECONDS = 20.0
COMMANDS = {
    "start": "start",
    "help": "help",
    "status": "status",
    "cancel": "cancel",
    "lang": "lang",
    "new": "new",
    "my": "my_cases",
    "unsubscribe": "unsubscribe",
    "subscribe": "subscribe",
}


def read_tap(data: str) -> tuple[str, str]:
    """(question, value) of a button's data; ("", data) for buttons of older replies."""
    ask, sep, value = data.partition(TAP_SEPARATOR)
    return (ask, value) if sep and ask.isdigit() else ("", data)


# -- inbound -------------------------------------------------------------------------


class MalformedUpdate(Exception):
    """The body is not a Telegram update we can read."""


class DownloadUnavailable(Exception):
    """A file could not be fetched right now; the update should be redelivered."""


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file to fetch with getFile before intake."""

    file_id: str
    size: int


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one update means for us."""

    update_id: int
    message: InboundMessage | None = None  # None: ignored update
    file: FileRef | None = None
    callback_query_id: str = ""
    keyboard_message_id: int = 0  # the message whose keyboard to clear after a choice
    reason: str = ""  # why an update was ignored (logs)


def parse_update(data: Any, bot: Bot) -> Parsed:
    """Translate one raw update into an :class:`InboundMessage` (or an ignore decision)."""
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise MalformedUpdate("not an update object")
    if not HANDLED_UPDATES & data.keys():
        # a kind we never asked for (or newer than our client library can read): answered
        # 200 and dropped, or Telegram would redeliver it again and again
        return Parsed(data["update_id"], reason="unsupported_update")
    direct = _plain_text(data) or _button_tap(data)
    if direct is not None:
        return direct
    return _parse_with_library(data, bot)


def _plain_text(data: dict[str, Any]) -> Parsed | None:
    """The most common update, a private chat's plain text, read straight from the JSON.

    python-telegram-bot's ``Update.de_json`` builds a Message of some 200 attributes for
    it (~125 µs, a quarter of the webhook's CPU: docs/benchmarks.md). Anything else —
    commands (they carry entities), media, buttons, any missing or odd field — returns
    None and goes through the library. tests/channels/telegram/test_parse.py checks this
    path against the library's on every recorded update.
    """
    message = data.get("message")
    if data.keys() != {"update_id", "message"} or not isinstance(message, dict):
        return None
    sender, text = message.get("from", {}), message.get("text")
    chat_id = _private_chat(message)
    if (
        chat_id is None
        or not (sender == {} or _is_user(sender))
        or not isinstance(text, str)
        or not text
        or "entities" in message
    ):
        return None
    return _direct(data["update_id"], chat_id, sender, text, {})


def _button_tap(data: dict[str, Any]) -> Parsed | None:
    """A tap on one of our inline buttons in a private chat, read straight from the JSON
    (the other common update; the same reasoning and test as :func:`_plain_text`)."""
    tap = data.get("callback_query")
    if data.keys() != {"update_id", "callback_query"} or not isinstance(tap, dict):
        return None
    message, sender, text = tap.get("message"), tap.get("from"), tap.get("data")
    chat_id = _private_chat(message)
    if (
        chat_id is None
        or not isinstance(tap.get("id"), str)
        or not isinstance(tap.get("chat_instance"), str)
        or not _is_user(sender)
        or not isinstance(text, str)
        or not text
    ):
        return None
    assert isinstance(message, dict) and isinstance(sender, dict)
    question, value = read_tap(text)
    return _direct(
        data["update_id"],
        chat_id,
        sender,
        value,
        {"callback": True},
        tap=question,
        callback_query_id=tap["id"],
        keyboard_message_id=message["message_id"],
    )


def _private_chat(message: Any) -> int | None:
    """The chat id of a well-formed Message object from a private chat, else None."""
    if not isinstance(message, dict):
        return None
    chat = message.get("chat")
    if (
        not isinstance(message.get("message_id"), int)
        or not isinstance(message.get("date"), int)
        or not isinstance(chat, dict)
        or chat.get("type") != "private"
        or not isinstance(chat.get("id"), int)
    ):
        return None
    return int(chat["id"])


def _direct(
    uid: int,
    chat_id: int,
    sender: dict[str, Any],
    text: str,
    raw: dict[str, Any],
    tap: str = "",
    **kw: Any,
) -> Parsed:
    lang = sender.get("language_code")
    return Parsed(
        uid,
        message=InboundMessage(
            address=Address(NAME, str(chat_id)),
            external_id=str(uid),
            received_at=utc_now(),
            text=text,
            tap=tap,
            lang_hint=lang if isinstance(lang, str) else "",
            raw={"update_id": uid, **raw},
        ),
        **kw,
    )


def _is_user(data: Any) -> bool:
    """A Telegram User object with the fields the Bot API always sends."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("id"), int)
        and isinstance(data.get("is_bot"), bool)
        and isinstance(data.get("first_name"), str)
    )


def _parse_with_library(data: dict[str, Any], bot: Bot) -> Parsed:
    """Any update, read through python-telegram-bot's types."""
    try:
        update = Update.de_json(data, bot)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedUpdate(f"unreadable update: {type(exc).__name__}") from exc
    uid = update.update_id
    external_id = str(uid)
    now = utc_now()
    if update.callback_query is not None:
        cq = update.callback_query
        msg = cq.message
        chat = msg.chat if msg is not None else None
        if chat is None or chat.type != "private" or not cq.data:
            return Parsed(uid, callback_query_id=cq.id, reason="callback_not_private")
        tap, value = read_tap(cq.data)
        return Parsed(
            uid,
            message=InboundMessage(
                address=Address(NAME, str(chat.id)),
                external_id=external_id,
                received_at=now,
                text=value,
                tap=tap,
                lang_hint=cq.from_user.language_code or "",
                raw={"update_id": uid, "callback": True},
            ),
            callback_query_id=cq.id,
            keyboard_message_id=msg.message_id if msg is not None else 0,
        )
    if update.my_chat_member is not None:
        member = update.my_chat_member
        if member.chat.type != "private" or member.new_chat_member.status != "kicked":
            return Parsed(uid, reason="member_update")
        return Parsed(
            uid,
            message=InboundMessage(
                address=Address(NAME, str(member.chat.id)),
                external_id=external_id,
                received_at=now,
                event="unsubscribe",
                raw={"update_id": uid},
            ),
        )
    if update.edited_message is not None:
        return Parsed(uid, reason="edited_message")
    if update.message is None:
        return Parsed(uid, reason="unsupported_update")
    return _parse_message(uid, update.message, now)


def _parse_message(uid: int, message: Message, now: Any) -> Parsed:
    if message.chat.type != "private":
        return Parsed(uid, reason="not_private")
    base = InboundMessage(
        address=Address(NAME, str(message.chat.id)),
        external_id=str(uid),
        received_at=now,
        lang_hint=(message.from_user.language_code or "") if message.from_user else "",
        raw={"update_id": uid},
    )
    if message.text:
        command, arg = _command(message)
        if command:
            return Parsed(uid, message=replace(base, command=command, command_arg=arg))
        return Parsed(uid, message=replace(base, text=message.text))
    if message.location is not None:
        label = ""
        if message.venue is not None:
            label = " ".join(p for p in (message.venue.title, message.venue.address) if p)
        loc = Location(message.location.latitude, message.location.longitude, label)
        if not (math.isfinite(loc.latitude) and math.isfinite(loc.longitude)):
            # json.loads accepts NaN and Infinity; Telegram never sends them
            raise MalformedUpdate("location with a non-finite coordinate")
        return Parsed(uid, message=replace(base, location=loc))
    found = _attachment(message)
    if found is None:
        return Parsed(uid, reason="unsupported_content")
    attachment, ref = found
    return Parsed(
        uid, message=replace(base, attachment=attachment, text=message.caption or ""), file=ref
    )


def _command(message: Message) -> tuple[str, str]:
    """The platform command of a message ("/status XF…", "/start@MyBot payload")."""
    text = message.text or ""
    entities = message.entities or ()
    if not any(e.type == "bot_command" and e.offset == 0 for e in entities):
        return "", ""
    head, _, arg = text.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    command = COMMANDS.get(name)
    if command is None:
        return "", ""  # unknown commands reach the engine as text, which answers them
    arg = arg.strip()
    # deep link t.me/<bot>?start=<payload>: a tracking number opens its status
    if command == "start" and arg and parse_tracking_no(arg).outcome != "none":
        return "status", arg
    return command, arg


def _attachment(message: Message) -> tuple[Attachment, FileRef] | None:
    if message.photo:
        photo = max(message.photo, key=lambda p: (p.file_size or 0, p.width * p.height))
        size = photo.file_size or 0
        att = Attachment("image", "", "image/jpeg", "photo.jpg", size)
        return att, FileRef(photo.file_id, size)
    if message.voice is not None:
        v = message.voice
        mime = v.mime_type or "audio/ogg"
        return Attachment("voice", "", mime, "voice.ogg", v.file_size or 0), FileRef(
            v.file_id, v.file_size or 0
        )
    if message.audio is not None:
        a = message.audio
        mime = a.mime_type or "audio/mpeg"
        name = a.file_name or "audio"
        return Attachment("voice", "", mime, name, a.file_size or 0), FileRef(
            a.file_id, a.file_size or 0
        )
    if message.video is not None:
        vd = message.video
        mime = vd.mime_type or "video/mp4"
        name = vd.file_name or "video.mp4"
        return Attachment("video", "", mime, name, vd.file_size or 0), FileRef(
            vd.file_id, vd.file_size or 0
        )
    if message.document is not None:
        d = message.document
        mime = d.mime_type or "application/octet-stream"
        kind = "image" if mime.startswith("image/") else "file"
        name = d.file_name or "file"
        return Attachment(kind, "", mime, name, d.file_size or 0), FileRef(
            d.file_id, d.file_size or 0
        )
    return None


class UpdateProcessor:
    """Downloads files, runs intake, and queues keyboard removal: shared by webhook and poller."""

    def __init__(
        self,
        intake: Intake,
        db: Database,
        bot: Bot,
        *,
        attachments_dir: Any,
        max_upload_bytes: int,
        download_timeout: float = DOWNLOAD_TIMEOUT_SECONDS,
    ) -> None:
        self.intake = intake
        self.db = db
        self.bot = bot
        self.attachments_dir = attachments_dir
        self.max_upload_bytes = max_upload_bytes
        self.download_timeout = download_timeout

    async def process(self, parsed: Parsed) -> None:
        """Commit one update through intake (raises DownloadUnavailable to ask for a retry)."""
        msg = parsed.message
        if msg is None:
            log.info("telegram.ignored", update_id=parsed.update_id, reason=parsed.reason)
            return
        if parsed.file is not None and msg.attachment is not None:
            msg = await self._with_file(msg, parsed.file, msg.attachment)
        result = await self.intake.handle(msg, via_outbox=True)
        if parsed.keyboard_message_id and not result.duplicate:
            async with self.db.transaction() as conn:
                await outbox.enqueue(
                    conn,
                    contact_id=result.contact_id,
                    address=msg.address,
                    reply=Reply(""),
                    now=utc_now(),
                    kind="reply",
                    template={"telegram": CLEAR_KEYBOARD, "message_id": parsed.keyboard_message_id},
                )

    async def _with_file(
        self, msg: InboundMessage, ref: FileRef, att: Attachment
    ) -> InboundMessage:
        fallback = replace(msg, attachment=replace(att, media_ref=f"telegram:{ref.file_id}"))
        async with self.db.read() as conn:
            seen = await inbound.stored_replies(conn, NAME, msg.external_id)
        if seen is not None:
            return fallback  # a redelivery: intake answers it as a duplicate, no download
        engine = self.intake.engine
        refusal = await file_refusal(self.db, engine, msg.address, utc_now())
        # a caption that tells a matter starts the petition the file then belongs to
        if refusal and not (refusal == IDLE and starts_petition(engine, msg.text)):
            return fallback  # nothing to keep it with: not downloaded (the dialog says why)
        if ref.size > self.max_upload_bytes:
            log.info("telegram.file_too_large", size=ref.size)
            return fallback
        try:
            async with asyncio.timeout(self.download_timeout):
                tg_file = await self.bot.get_file(ref.file_id)
                if (tg_file.file_size or 0) > self.max_upload_bytes:
                    return fallback
                data = await tg_file.download_as_bytearray()
        except BadRequest as exc:  # "file is too big" and the like: permanent
            log.info("telegram.file_refused", reason=exc.message)
            return fallback
        except (TelegramError, TimeoutError) as exc:
            raise DownloadUnavailable(type(exc).__name__) from exc

        async def chunks() -> AsyncIterator[bytes]:
            yield bytes(data)

        try:
            key, size = await save_stream(
                self.attachments_dir,
                att.filename or "file",
                chunks(),
                self.max_upload_bytes,
                utc_now(),
            )
        except TooLarge:
            return fallback
        return replace(msg, attachment=replace(att, media_ref=key, size=size))
