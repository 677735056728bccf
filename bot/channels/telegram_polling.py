"""Telegram long polling (``XINFANG_TELEGRAM_POLLING=true``), for deployments without a public URL.

Each batch from getUpdates is committed through intake update by update; then the next
offset is stored in the shared key-value table (key ``telegram.offset``), so a restart
resumes after the last committed update. A batch redelivered after a crash is harmless:
intake de-duplicates by update_id. Callback queries are answered here after the commit
(answerCallbackQuery is not a citizen message, so it does not go through the outbox).

Only one process may poll a bot (Telegram answers 409 Conflict to a second poller);
several ``xinfang serve`` processes behind a load balancer use the webhook instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from typing import Any

from telegram import Bot
from telegram.error import Conflict, TelegramError
from telegram.warnings import PTBUserWarning

from bot.channels.telegram_updates import (
    ALLOWED_UPDATES,
    OFFSET_KEY,
    DownloadUnavailable,
    MalformedUpdate,
    UpdateProcessor,
    parse_update,
)
from bot.clock import utc_now
from bot.logging import get_logger
from bot.storage import kv
from bot.storage.db import Database

log = get_logger(__name__)

MAX_BACKOFF_SECONDS = 60.0


class Poller:
    """getUpdates loop: fetch · commit each update · store the next offset."""

    def __init__(
        self, processor: UpdateProcessor, bot: Bot, db: Database, *, timeout: int = 25
    ) -> None:
        self.processor = processor
        self.bot = bot
        self.db = db
        self.timeout = timeout
        self._failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set."""
        log.info("telegram.polling_started")
        while not stop.is_set():
            try:
                await self.prepare()
                break
            except TelegramError as exc:
                if await self._backoff(stop, exc):
                    return
        while not stop.is_set():
            try:
                handled = await self._stoppable(self.poll_once(), stop)
            except (TelegramError, DownloadUnavailable) as exc:
                if await self._backoff(stop, exc):
                    return
                continue
            if handled is not None:
                self._failures = 0
        log.info("telegram.polling_stopped")

    async def prepare(self) -> None:
        """Remove any webhook: getUpdates is refused while one is set (409 Conflict)."""
        await self.bot.delete_webhook(drop_pending_updates=False)

    async def _stoppable(self, work: Any, stop: asyncio.Event) -> int | None:
        """Run ``work`` unless stop is set first; a long poll in flight is then cancelled.

        Cancelling is safe: the offset is only stored after a batch is committed, and a
        batch is committed update by update, each exactly once.
        """
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            stopper.cancel()
            return int(task.result())
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TelegramError):
            await task
        return None

    async def _backoff(self, stop: asyncio.Event, exc: BaseException) -> bool:
        """Wait after a failure; True when stop was requested meanwhile."""
        self._failures += 1
        delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(self._failures, 8))
        level = "error" if isinstance(exc, Conflict) else "warning"
        getattr(log, level)(
            "telegram.polling_failed", error=type(exc).__name__, delay=delay, detail=str(exc)[:200]
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        return stop.is_set()

    async def offset(self) -> int | None:
        """The next update_id to ask for (None before the first batch)."""
        async with self.db.read() as conn:
            entry = await kv.get(conn, OFFSET_KEY)
        return int(entry.value["next"]) if entry is not None else None

    async def poll_once(self) -> int:
        """One getUpdates call and its batch; returns how many updates were committed."""
        offset = await self.offset()
        params: dict[str, Any] = {
            "timeout": self.timeout,
            "allowed_updates": list(ALLOWED_UPDATES),
        }
        if offset is not None:
            params["offset"] = offset
        # raw JSON, so webhook and polling parse the very same dictionaries
        with warnings.catch_warnings():  # PTB suggests get_updates, which returns objects
            warnings.simplefilter("ignore", PTBUserWarning)
            raw = await self.bot.do_api_request(
                "getUpdates", api_kwargs=params, read_timeout=self.timeout + 10
            )
        updates = [u for u in raw if isinstance(u, dict)] if isinstance(raw, list) else []
        committed = 0
        next_offset = offset
        try:
            for data in sorted(updates, key=lambda u: int(u.get("update_id", 0))):
                uid = data.get("update_id")
                try:
                    parsed = parse_update(data, self.bot)
                except MalformedUpdate as exc:
                    log.warning("telegram.malformed", update_id=uid, error=str(exc)[:100])
                    if isinstance(uid, int):
                        next_offset = uid + 1
                    continue
                await self.processor.process(parsed)
                committed += 1
                next_offset = parsed.update_id + 1
                if parsed.callback_query_id:
                    await self._answer(parsed.callback_query_id)
        finally:
            # whatever was committed is confirmed, even when a later update must be retried
            if next_offset is not None and next_offset != offset:
                await self._store(next_offset)
        return committed

    async def _answer(self, callback_query_id: str) -> None:
        try:
            await self.bot.answer_callback_query(callback_query_id)
        except TelegramError as exc:  # the spinner times out on its own; not worth a retry
            log.info("telegram.callback_answer_failed", error=type(exc).__name__)

    async def _store(self, next_offset: int) -> None:
        async with self.db.transaction() as conn:
            await kv.put(conn, OFFSET_KEY, {"next": next_offset}, utc_now())
