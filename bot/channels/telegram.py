"""Telegram: webhook at ``POST /telegram`` and delivery (updates are read in telegram_updates).

python-telegram-bot is used as a typed client only (``Update.de_json``, ``telegram.Bot``);
our intake, engine, storage and outbox do the rest.

Documented choices:

- Replies always go through the outbox (``via_outbox=True``); the webhook answers 200 as
  soon as the update is committed. A callback query is answered in the webhook response
  body itself (the Bot API allows one method call as the answer to a webhook request,
  https://core.telegram.org/bots/api#making-requests-when-getting-updates); in polling
  mode the poller calls answerCallbackQuery after the commit. Neither is a citizen
  message, so neither goes through ``Channel.send``.
- After a choice is tapped, the keyboard of that message is removed by an outbox row
  (``template={"telegram": "clear_keyboard", ...}``): durable, ordered and rate limited
  with the chat's other messages.
- Files (photo, document, voice, audio, video) are downloaded with getFile into
  attachment storage before intake, bounded by a timeout and the upload size limit.
  A transient failure answers 503 (Telegram redelivers the update; nothing was stored);
  a file the Bot API refuses to serve (over 20 MB) or larger than our limit is recorded
  by its ``telegram:<file_id>`` reference only.
- Edited messages are ignored: an edit would silently re-answer a question that has
  moved on; citizens change an answer with "修改 N" instead.
- Updates from groups, supergroups and channels are ignored silently: a petition carries
  personal data and must not be collected in a shared chat.
- ``my_chat_member`` with status "kicked" (the citizen blocked the bot) marks the contact
  unreachable. Stickers, polls and other content are ignored.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hmac
import sys
import warnings
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeDefault,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import BaseRequest
from telegram.warnings import PTBDeprecationWarning

from bot import safe_json
from bot.channels.base import SendError, read_body, render_text, split_text
from bot.channels.spec import ChannelSpec
from bot.channels.telegram_request import AiohttpRequest
from bot.channels.telegram_updates import (
    ALLOWED_UPDATES,
    CLEAR_KEYBOARD,
    NAME,
    TAP_SEPARATOR,
    DownloadUnavailable,
    MalformedUpdate,
    UpdateProcessor,
    parse_update,
)
from bot.logging import get_logger
from bot.messages import (
    Capabilities,
    OutboundMessage,
    Reply,
    SendResult,
)
from bot.metrics import REJECTED_REQUESTS
from bot.settings import Settings

log = get_logger(__name__)

MAX_TEXT_LEN = 4096  # https://core.telegram.org/bots/api#sendmessage
CALLBACK_DATA_MAX_BYTES = 64  # https://core.telegram.org/bots/api#inlinekeyboardbutton
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# platform command name -> InboundMessage.command understood by the engine
# the command list shown by Telegram clients (setMyCommands), per language
COMMAND_MENU: dict[str, tuple[tuple[str, str], ...]] = {
    "zh": (
        ("new", "新建信访事项"),
        ("status", "查询办理进度（可附受理编号）"),
        ("my", "我的信访事项"),
        ("cancel", "取消当前填写"),
        ("help", "帮助"),
        ("lang", "切换语言 / Language"),
        ("unsubscribe", "退订群发通知（本人事项的进度照常推送）"),
        ("subscribe", "重新接收群发通知"),
    ),
    "en": (
        ("new", "File a new petition"),
        ("status", "Check progress (optionally with a tracking number)"),
        ("my", "My petitions"),
        ("cancel", "Cancel the current form"),
        ("help", "Help"),
        ("lang", "Switch language / 语言"),
        ("unsubscribe", "Stop broadcast notices (your own case updates still come)"),
        ("subscribe", "Receive broadcast notices again"),
    ),
}


CAPABILITIES = Capabilities(
    buttons=True,
    max_text_len=MAX_TEXT_LEN,
    attachments=("image", "voice", "file", "video"),
    location=True,
    push=True,
)


def capabilities(settings: Settings) -> Capabilities:
    """Telegram's capabilities, with the configured send rates."""
    return dataclasses.replace(
        CAPABILITIES,
        rate_per_second=settings.telegram_rate_per_second,
        rate_per_chat_per_second=settings.telegram_rate_per_chat_per_second,
    )


def make_requests(settings: Settings) -> tuple[BaseRequest, BaseRequest]:
    """The (general, getUpdates) HTTP clients: aiohttp sessions, opened on first use."""
    return (
        AiohttpRequest(connection_limit=64, read_timeout=10.0),
        AiohttpRequest(connection_limit=2, read_timeout=settings.telegram_poll_timeout + 10.0),
    )


def make_bot(settings: Settings, *, requests: tuple[BaseRequest, BaseRequest] | None = None) -> Bot:
    """A Bot API client pointed at ``XINFANG_TELEGRAM_API_BASE``.

    python-telegram-bot builds method URLs as ``base_url`` with ``{token}`` replaced,
    then ``/<method>``; files as ``base_file_url`` with ``{token}`` replaced, then
    ``/<file_path>``. ``requests``: the (general, getUpdates) HTTP clients to use
    (default :func:`make_requests`).
    """
    base = settings.telegram_api_base.rstrip("/")
    general, updates = requests or make_requests(settings)
    return Bot(
        settings.telegram_token,
        base_url=f"{base}/bot{{token}}",
        base_file_url=f"{base}/file/bot{{token}}",
        request=general,
        get_updates_request=updates,
    )


# -- delivery ------------------------------------------------------------------------


def send_error(exc: TelegramError) -> SendError:
    """Map a Bot API error to the outbox's retryable/permanent taxonomy."""
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():  # PTB 22 announces a timedelta type; accept both
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            after = exc.retry_after
        seconds = after.total_seconds() if isinstance(after, timedelta) else float(after)
        return SendError(
            f"telegram 429: retry after {seconds:g}s", retryable=True, retry_after=seconds
        )
    if isinstance(exc, Forbidden):  # blocked by the user, user deactivated, kicked
        return SendError(f"telegram 403: {exc.message}", retryable=False, unreachable=True)
    if isinstance(exc, ChatMigrated):  # only groups migrate; we never write to groups
        return SendError(f"telegram: chat migrated ({exc.message})", retryable=False)
    if isinstance(exc, BadRequest):  # before NetworkError: BadRequest subclasses it
        unreachable = "chat not found" in exc.message.lower()
        return SendError(f"telegram 400: {exc.message}", retryable=False, unreachable=unreachable)
    if isinstance(exc, NetworkError):  # includes TimedOut and 5xx
        return SendError(f"telegram network: {exc.message}", retryable=True)
    # InvalidToken, Conflict, other: a configuration problem; keep the message for later
    return SendError(f"telegram: {type(exc).__name__}: {exc.message}", retryable=True)


def callback_data(ask: str, value: str) -> str:
    """A button's data names the question it belongs to ("7|yes"), so that a tap on the
    keyboard of an earlier question is recognised as such instead of answering this one."""
    return f"{ask}{TAP_SEPARATOR}{value}" if ask else value


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Inline buttons for the choices, or None when any value is too long for callback_data."""
    if not reply.choices:
        return None
    data = [callback_data(reply.ask, c.value) for c in reply.choices]
    if any(len(d.encode()) > CALLBACK_DATA_MAX_BYTES for d in data):
        return None
    buttons = [
        InlineKeyboardButton(c.label, callback_data=d)
        for c, d in zip(reply.choices, data, strict=True)
    ]
    per_row = 2 if all(len(c.label) <= 8 for c in reply.choices) else 1
    return InlineKeyboardMarkup([buttons[i : i + per_row] for i in range(0, len(buttons), per_row)])


class TelegramChannel:
    """Delivers outbox messages through the Bot API (plain text, no parse_mode)."""

    name = NAME

    def __init__(
        self,
        bot: Bot,
        caps: Capabilities,
        requests: tuple[BaseRequest, BaseRequest] | None = None,
    ) -> None:
        self.bot = bot
        self.capabilities = caps
        self.requests = requests  # the HTTP clients the app opens and closes (install)
        # parts of one long message are spaced like separate messages of that chat
        per_chat = caps.rate_per_chat_per_second
        self._part_gap = 1 / per_chat if per_chat > 0 else 0.0

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send one message (split at 4096 characters, keyboard on the last part)."""
        chat_id = int(message.address.address)
        try:
            if message.template.get("telegram") == CLEAR_KEYBOARD:
                return await self._clear_keyboard(chat_id, int(message.template["message_id"]))
            markup = keyboard(message.reply)
            if markup is None:
                text = render_text(message.reply, Capabilities(buttons=False))
            else:
                text = message.reply.text
            # plain text (no parse_mode): nothing a citizen or staff typed can be misread
            # as markup, so no escaping is needed
            parts = [p for p in split_text(text, MAX_TEXT_LEN) if p.strip()] or ["…"]
            sent_id = ""
            for index, part in enumerate(parts):
                if index:
                    await asyncio.sleep(self._part_gap)
                last = index == len(parts) - 1
                sent = await self.bot.send_message(
                    chat_id, part, reply_markup=markup if last else None
                )
                sent_id = str(sent.message_id)
        except TelegramError as exc:
            raise send_error(exc) from exc
        return SendResult(sent_id)

    async def _clear_keyboard(self, chat_id: int, message_id: int) -> SendResult:
        try:
            await self.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
        except BadRequest as exc:
            # the keyboard is already gone (tapped twice, or the message was deleted)
            text = exc.message.lower()
            if "not modified" in text or "not found" in text or "can't be edited" in text:
                return SendResult("")
            raise
        return SendResult(str(message_id))

    async def already_sent(self, message: OutboundMessage) -> bool:
        """Telegram offers no idempotency key or lookup: it cannot tell."""
        return False


class TelegramWebhook:
    """``POST /telegram``: verify the secret token, parse, commit, answer 200."""

    def __init__(
        self, processor: UpdateProcessor, bot: Bot, *, secret: str, max_body_bytes: int
    ) -> None:
        self.processor = processor
        self.bot = bot
        self.secret = secret.encode()
        self.max_body_bytes = max_body_bytes

    def _authentic(self, request: web.Request) -> bool:
        given = request.headers.get(SECRET_HEADER, "").encode()
        # no configured secret: refuse everything rather than accept forged updates
        return bool(self.secret) and hmac.compare_digest(given, self.secret)

    async def handle(self, request: web.Request) -> web.Response:
        """Handle one webhook delivery."""
        if not self._authentic(request):
            REJECTED_REQUESTS.labels(NAME, "secret").inc()
            return web.Response(status=403, text="forbidden")
        body = await read_body(request, self.max_body_bytes)
        if body is None:
            REJECTED_REQUESTS.labels(NAME, "too_big").inc()
            return web.Response(status=413, text="too large")
        try:
            parsed = parse_update(safe_json.loads(body), self.bot)
        except (safe_json.BadJson, MalformedUpdate) as exc:
            REJECTED_REQUESTS.labels(NAME, "malformed").inc()
            log.warning("telegram.malformed", error=str(exc)[:100])
            return web.Response(status=400, text="malformed update")
        try:
            await self.processor.process(parsed)
        except DownloadUnavailable as exc:
            log.warning("telegram.download_unavailable", update_id=parsed.update_id, error=str(exc))
            return web.Response(status=503, text="try again")
        if parsed.callback_query_id:
            # answer the button tap inside the webhook response (one Bot API call allowed)
            return web.json_response(
                {"method": "answerCallbackQuery", "callback_query_id": parsed.callback_query_id}
            )
        return web.Response(status=200)


# -- wiring --------------------------------------------------------------------------


def build(settings: Settings, _db: Any = None) -> TelegramChannel:
    """The outbound channel; its HTTP clients are opened with the app (see install)."""
    # our own HTTP clients, opened and closed with the app: Bot.initialize() would also
    # call getMe, making startup depend on Telegram being reachable
    requests = make_requests(settings)
    return TelegramChannel(make_bot(settings, requests=requests), capabilities(settings), requests)


def install(app: web.Application, services: Any) -> None:
    """Mount the webhook route (or start the poller) and open the channel's clients."""
    from bot.channels.telegram_polling import Poller

    s: Settings = services.settings
    channel = services.channels.get(NAME)
    if not isinstance(channel, TelegramChannel) or channel.requests is None:
        channel = build(s)
        services.channels[NAME] = channel
    bot = channel.bot
    assert channel.requests is not None
    requests = channel.requests
    processor = UpdateProcessor(
        services.intake,
        services.db,
        bot,
        attachments_dir=s.attachments_dir,
        max_upload_bytes=s.max_upload_bytes,
    )
    if s.telegram_polling:
        poller = Poller(processor, bot, services.db, timeout=s.telegram_poll_timeout)

        async def polling(_app: web.Application) -> AsyncIterator[None]:
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run(stop), name="telegram-poller")
            yield
            stop.set()
            await task

        app.cleanup_ctx.append(polling)
    else:
        hook = TelegramWebhook(
            processor, bot, secret=s.telegram_secret, max_body_bytes=s.max_body_bytes
        )
        app.router.add_post("/telegram", hook.handle)
        if not s.telegram_secret:
            log.warning(
                "telegram.no_secret", hint="set XINFANG_TELEGRAM_SECRET; webhook refuses all"
            )

    async def open_clients(_app: web.Application) -> None:
        await asyncio.gather(*(r.initialize() for r in requests))

    async def close_clients(_app: web.Application) -> None:
        # on_cleanup runs after every cleanup context, i.e. after the outbox worker stopped
        await asyncio.gather(*(r.shutdown() for r in requests))

    app.on_startup.append(open_clients)
    app.on_cleanup.append(close_clients)


# -- CLI -----------------------------------------------------------------------------


def add_cli(sub: Any) -> None:
    """Add ``xinfang telegram …`` (set-webhook, delete-webhook, set-commands)."""
    p: argparse.ArgumentParser = sub.add_parser("telegram", help="Telegram bot administration")
    tsub = p.add_subparsers(dest="telegram_action", required=True, metavar="ACTION")
    hook = tsub.add_parser(
        "set-webhook",
        help="register URL as the webhook (with the secret token) and the command list",
    )
    hook.add_argument("url", help="public HTTPS URL ending in /telegram")
    hook.add_argument(
        "--drop-pending", action="store_true", help="discard updates Telegram holds for the bot"
    )
    hook.set_defaults(func=_cli_set_webhook)
    delete = tsub.add_parser("delete-webhook", help="remove the webhook (for polling mode)")
    delete.set_defaults(func=_cli_delete_webhook)
    cmds = tsub.add_parser("set-commands", help="register the command list (zh and en)")
    cmds.set_defaults(func=_cli_set_commands)


async def register_commands(bot: Bot) -> None:
    """setMyCommands: Chinese for zh clients and as the default, English for en clients."""
    for lang, items in (
        ("", COMMAND_MENU["zh"]),
        ("zh", COMMAND_MENU["zh"]),
        ("en", COMMAND_MENU["en"]),
    ):
        commands = [BotCommand(name, desc) for name, desc in items]
        await bot.set_my_commands(
            commands, scope=BotCommandScopeDefault(), language_code=lang or None
        )


def _run(settings: Settings, action: Callable[[Bot], Any]) -> int:
    if not settings.telegram_token:
        print("xinfang: XINFANG_TELEGRAM_TOKEN is not set", file=sys.stderr)
        return 2

    async def main() -> int:
        bot = make_bot(settings)
        async with bot:
            try:
                await action(bot)
            except TelegramError as exc:
                print(f"xinfang: Telegram refused: {exc.message}", file=sys.stderr)
                return 1
        return 0

    return asyncio.run(main())


def _cli_set_webhook(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.telegram_secret:
        print(
            "xinfang: set XINFANG_TELEGRAM_SECRET first (the webhook refuses unsigned updates)",
            file=sys.stderr,
        )
        return 2

    async def action(bot: Bot) -> None:
        await bot.set_webhook(
            args.url,
            secret_token=settings.telegram_secret,
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=bool(args.drop_pending),
        )
        await register_commands(bot)
        print(f"webhook set; commands registered (zh, en); updates: {', '.join(ALLOWED_UPDATES)}")

    return _run(settings, action)


def _cli_delete_webhook(settings: Settings, _args: argparse.Namespace) -> int:
    async def action(bot: Bot) -> None:
        await bot.delete_webhook()
        print("webhook deleted")

    return _run(settings, action)


def _cli_set_commands(settings: Settings, _args: argparse.Namespace) -> int:
    async def action(bot: Bot) -> None:
        await register_commands(bot)
        print("commands registered (zh, en)")

    return _run(settings, action)


SPEC = ChannelSpec(
    name=NAME,
    labels=("Telegram", "Telegram"),
    capabilities=CAPABILITIES,
    build=build,
    enabled=lambda s: s.telegram_enabled,
    install=install,
    add_cli=add_cli,
    settings=("XINFANG_TELEGRAM_TOKEN",),
)
