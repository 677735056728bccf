"""The delivery worker: claim due outbox rows · send through the channel · mark, retry or fail.

This is the only caller of ``Channel.send``.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import socket
from asyncio import FIRST_COMPLETED
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels.base import Channel, SendError
from bot.clock import utc_now
from bot.logging import get_logger
from bot.metrics import OUTBOX_FAILED, OUTBOX_RETRIED, OUTBOX_SENT
from bot.storage import contacts
from bot.storage import outbox as rows
from bot.storage.db import Database
from bot.storage.outbox import OutboxRow

log = get_logger(__name__)

OFF_SWEEP_SECONDS = 10.0  # how often rows of channels that are off are failed
CHANNEL_OFF = rows.NOT_CONFIGURED  # the reason of a row whose channel is not configured here


class Router(Protocol):
    """Notice routing (bot/notice_routing.py): an SMS after a delivery or a failure."""

    def wants(self, row: OutboxRow, *, delivered: bool) -> bool:
        """Whether the row's outcome may queue more (no database)."""
        ...

    async def after(
        self, conn: AsyncConnection, row: OutboxRow, now: datetime, *, delivered: bool
    ) -> int | None:
        """Queue what the outcome calls for, in the caller's transaction."""
        ...


CLAIM_AHEAD_SECONDS = 0.1
CLAIM_RUNWAY = 3  # claims' worth of sends kept claimed ahead (see OutboxWorker._adapt)
MAX_RUNWAY_SECONDS = 0.25  # ... but never more than this long of sends
LATE_SECONDS = 0.02  # a send this late for its rate-limit slot takes a new one
MARK_LINGER_SECONDS = 0.02  # how long the first "sent" mark waits for others to join it


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped; the platform's retry_after wins."""

    base_seconds: float = 2.0
    cap_seconds: float = 1800.0
    max_attempts: int = 12

    def delay(self, attempts: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before the next attempt after ``attempts`` failures."""
        backoff = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        jittered = backoff / 2 + rng.uniform(0, backoff / 2)
        return float(max(jittered, retry_after or 0.0))


class RateLimiter:
    """Spacing of sends per channel and per chat, from the channel's capabilities."""

    def __init__(self) -> None:
        self._next_at: dict[tuple[str, str], float] = defaultdict(float)

    def reserve(self, channel: Channel, address: str, now: float, max_wait: float = 0.0) -> float:
        """Seconds until this chat may send; the slot is booked when that is ``<= max_wait``.

        Booking a slot a little ahead lets the worker sleep in-process for it instead of
        putting the row back in the database, which would cost a poll cycle per message.
        """
        caps = channel.capabilities
        keys: list[tuple[tuple[str, str], float]] = []
        if caps.rate_per_second > 0:
            keys.append(((channel.name, ""), 1 / caps.rate_per_second))
        if caps.rate_per_chat_per_second > 0:
            keys.append(((channel.name, address), 1 / caps.rate_per_chat_per_second))
        # a chat on hold (retry_after) waits even when the channel sets no per-chat rate
        held = self._next_at.get((channel.name, address), 0.0)
        wait = max([self._next_at[k] - now for k, _ in keys] + [held - now, 0.0])
        if wait > max_wait:
            return wait
        for key, spacing in keys:
            self._next_at[key] = now + wait + spacing
        return wait

    def rebook(self, channel: Channel, now: float) -> float:
        """A new channel-wide slot for a send that missed its own; seconds until it."""
        rate = channel.capabilities.rate_per_second
        if rate <= 0:
            return 0.0
        key = (channel.name, "")
        wait = max(self._next_at[key] - now, 0.0)
        self._next_at[key] = now + wait + 1 / rate
        return wait

    def hold(self, channel: str, address: str, until: float) -> None:
        """Respect a platform's retry_after for one chat."""
        key = (channel, address)
        self._next_at[key] = max(self._next_at[key], until)


def default_worker_id() -> str:
    """host:pid, so that leases name who holds a row."""
    return f"{socket.gethostname()}:{os.getpid()}"


class OutboxWorker:
    """Delivers outbox rows; safe to run in several processes at once."""

    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        *,
        worker_id: str | None = None,
        batch: int = 50,
        lease: timedelta = timedelta(seconds=60),
        poll_seconds: float = 0.5,
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        on_sent: Callable[[OutboxRow], None] | None = None,
        max_inline_wait: float = 2.0,
        off: Mapping[str, str] | None = None,
        router: Router | None = None,
    ) -> None:
        self.db = db
        self.channels = dict(channels)
        # registered channels not configured here: their rows fail with this reason
        self.off = {k: v for k, v in (off or {}).items() if k not in self.channels}
        self.router = router
        self._off_swept = -math.inf  # loop time of the last sweep of channels that are off
        self.worker_id = worker_id or default_worker_id()
        # a claim covers at least CLAIM_AHEAD_SECONDS of sends at the fastest channel's
        # rate, so the next claim is done before the last one's rows have all gone out
        self._fastest = max((c.capabilities.rate_per_second for c in channels.values()), default=0)
        self.batch = max(batch, math.ceil(self._fastest * CLAIM_AHEAD_SECONDS))
        self._claim_seconds = 0.0  # how long a claim takes (moving average)
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.rng = rng or random.Random()
        self.limiter = RateLimiter()
        self.on_sent = on_sent
        self.max_inline_wait = max_inline_wait  # longer rate-limit waits go back to the table
        self._wake = asyncio.Event()
        self._marks: list[tuple[int, datetime, str, asyncio.Future[None]]] = []
        self._marking = False
        self._mark_task: asyncio.Task[None] | None = None
        self._in_flight: set[int] = set()  # rows whose send started and is not yet recorded
        self._outstanding = 0  # claimed rows not yet settled
        self._low_water = self.batch // 2  # claim the next batch once this few are left
        self._room = asyncio.Event()  # outstanding fell to the low-water mark
        self._idle = asyncio.Event()  # nothing claimed is outstanding
        self._stopping = False

    def wake(self) -> None:
        """Ask the worker to look for rows now (after this process enqueued some)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then hand back whatever is still claimed.

        Claims are pipelined: the next batch is claimed while the last half of the
        previous one is still going out, so a fast channel never waits for a claim;
        one chat's rows still go out one at a time (the claim holds a chat back while
        a row of it is in flight). On stop, sends in flight finish and rows not yet
        started are handed back; on cancellation, sends in flight are abandoned too.
        """
        log.info("outbox.started", worker=self.worker_id)
        tasks: set[asyncio.Task[None]] = set()
        cancelled = False
        try:
            while not stop.is_set():
                # cleared before looking, so that a wake() during the claim is not lost
                self._wake.clear()
                handled = 0
                if self._outstanding <= self._low_water:
                    try:
                        claimed = await self._claim()
                    except Exception:
                        log.exception("outbox.iteration_failed")
                        claimed = []
                    handled = len(claimed)
                    for chat_rows in _by_chat(claimed):
                        task = asyncio.create_task(self._deliver_chat(chat_rows))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                await self._pause(stop, handled)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            self._stopping = True  # rows whose send has not started are handed back
            abandoned = cancelled
            if tasks and not cancelled:
                try:  # sends in flight finish...
                    await asyncio.gather(*list(tasks), return_exceptions=True)
                except asyncio.CancelledError:
                    abandoned = True  # ...unless the stop's grace runs out while they do
            if abandoned:  # sends in flight are abandoned too; their rows still go back
                for task in list(tasks):
                    task.cancel()
                await asyncio.gather(*list(tasks), return_exceptions=True)
            async with self.db.transaction() as conn:
                await rows.release(conn, self.worker_id, self._in_flight)
            self._in_flight.clear()
            log.info("outbox.stopped", worker=self.worker_id)
            if abandoned and not cancelled:
                raise asyncio.CancelledError  # the cancellation swallowed above

    async def _pause(self, stop: asyncio.Event, handled: int) -> None:
        """Wait until it is worth claiming again (``handled``: rows the last claim took).

        With more than the low-water mark outstanding: until enough of it went out.
        After a full batch: not at all. Otherwise on a wake-up, when everything claimed
        has settled (a chat's next row may be free now), or after the poll interval.
        """
        if self._outstanding > self._low_water:
            self._room.clear()  # set again by the settle that reaches the mark
            events = [stop, self._room]
        elif handled >= max(self.batch, self._low_water):
            return
        elif self._outstanding > 0:
            self._idle.clear()
            events = [stop, self._wake, self._idle]
        else:
            events = [stop, self._wake]
        if any(e.is_set() for e in events):
            return
        waiters = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waiters, timeout=self.poll_seconds, return_when=FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many rows were handled."""
        claimed = await self._claim()
        # chats are independent; one chat's messages stay in order
        await asyncio.gather(*(self._deliver_chat(chat_rows) for chat_rows in _by_chat(claimed)))
        return len(claimed)

    async def _claim(self) -> list[OutboxRow]:
        now = self.clock()
        channels = list(self.channels)
        started = asyncio.get_running_loop().time()
        async with self.db.transaction() as conn:
            unconfirmed = await rows.fail_unconfirmed(conn, now=now, channels=channels)
            if self.off and started >= self._off_swept + OFF_SWEEP_SECONDS:
                # rows of channels that are off fail within OFF_SWEEP_SECONDS; not every
                # claim: the update walks the pending rows, a broadcast's too
                self._off_swept = started
                for name, why in self.off.items():
                    for row_id in await rows.fail_channel_off(conn, name, f"{CHANNEL_OFF}: {why}"):
                        OUTBOX_FAILED.labels(name).inc()
                        log.warning("outbox.failed", outbox_id=row_id, channel=name, reason=why)
            claimed = await rows.claim_due(
                conn,
                worker=self.worker_id,
                now=now,
                limit=max(self.batch, self._low_water),
                lease=self.lease,
                channels=channels,
            )
        self._adapt(asyncio.get_running_loop().time() - started)
        for row_id, channel in unconfirmed:
            OUTBOX_FAILED.labels(channel).inc()
            log.warning("outbox.failed", outbox_id=row_id, channel=channel, reason=rows.UNCONFIRMED)
        self._outstanding += len(claimed)
        return claimed

    def _adapt(self, claim_seconds: float) -> None:
        """Claim again early enough to cover CLAIM_RUNWAY claims' time at the fastest rate.

        A claim is a write transaction of several statements (a few ms on SQLite, tens
        on a busy PostgreSQL); the rows still waiting to go out must last that long,
        or the channel idles. Claimed rows are also what a crash leaves unconfirmed,
        so no more than that are held.
        """
        self._claim_seconds = 0.8 * self._claim_seconds + 0.2 * claim_seconds
        runway = min(CLAIM_RUNWAY * self._claim_seconds, MAX_RUNWAY_SECONDS)
        self._low_water = max(self.batch // 2, math.ceil(self._fastest * runway))

    def _settled(self, count: int = 1) -> None:
        """``count`` claimed rows are done with (sent, failed, put back or handed back)."""
        self._outstanding -= count
        if self._outstanding <= self._low_water:
            self._room.set()
        if self._outstanding <= 0:
            self._idle.set()

    async def _deliver_chat(self, chat_rows: list[OutboxRow]) -> None:
        left = len(chat_rows)
        try:
            for index, row in enumerate(chat_rows):
                try:
                    blocked_until = await self._deliver(row)
                except _Stopping:
                    return  # release() hands this row and the chat's next ones back
                left -= 1
                self._settled()
                if blocked_until is not None:
                    # keep the chat in order: later rows wait as long as the one that could not go
                    async with self.db.transaction() as conn:
                        for rest in chat_rows[index + 1 :]:
                            await rows.reschedule(
                                conn, rest.id, self.worker_id, blocked_until, count_attempt=False
                            )
                    return
        finally:
            if left:
                self._settled(left)

    async def _deliver(self, row: OutboxRow) -> datetime | None:
        """Send one row; None when settled (sent or failed for good), else its next try."""
        channel = self.channels.get(row.address.channel)
        if channel is None:  # claimed for a channel this worker does not have: never KeyError
            name = row.address.channel
            why = self.off.get(name, f"{name} (not run by this process)")
            self._in_flight.add(row.id)
            return await self._settle_failure(
                row, SendError(f"{CHANNEL_OFF}: {why}", retryable=False)
            )
        loop_now = asyncio.get_running_loop().time()
        wait = self.limiter.reserve(channel, row.address.address, loop_now, self.max_inline_wait)
        if wait > self.max_inline_wait:
            at = self.clock() + timedelta(seconds=wait)
            async with self.db.transaction() as conn:
                await rows.reschedule(conn, row.id, self.worker_id, at, count_attempt=False)
            return at
        if wait > 0:
            await asyncio.sleep(wait)
            # after a stall of the loop, every sleeper wakes at once: sending them all
            # would be a burst over the platform's rate. A send late for its slot takes
            # a new one (channel-wide only: its chat's spacing is already kept)
            late = asyncio.get_running_loop().time() - (loop_now + wait)
            if late > LATE_SECONDS:
                again = self.limiter.rebook(channel, asyncio.get_running_loop().time())
                if again > 0:
                    await asyncio.sleep(again)
        if self._stopping:
            raise _Stopping
        message = row.message()
        self._in_flight.add(row.id)  # from here on it may reach the platform
        try:
            # a retry, or a row taken over from a worker that died: it may have arrived
            if (row.attempts > 0 or row.reclaimed) and await channel.already_sent(message):
                result_id = ""
            else:
                result_id = (await channel.send(message)).external_id
        except SendError as err:
            return await self._settle_failure(row, err)
        except Exception as exc:  # a bug or an unexpected client error: retry, loudly
            log.exception("outbox.send_crashed", outbox_id=row.id, channel=row.address.channel)
            return await self._settle_failure(row, SendError(repr(exc), retryable=True))
        await self._mark_sent(row, result_id)
        self._in_flight.discard(row.id)
        if self.router is not None and self.router.wants(row, delivered=True):
            try:
                async with self.db.transaction() as conn:
                    await self.router.after(conn, row, self.clock(), delivered=True)
            except Exception:  # the notice itself went out: its copy is best effort
                log.exception("outbox.route_failed", outbox_id=row.id)
        OUTBOX_SENT.labels(row.address.channel).inc()
        if self.on_sent is not None:
            self.on_sent(row)
        return None

    async def _mark_sent(self, row: OutboxRow, result_id: str) -> None:
        """Record a delivery; deliveries finishing together share one transaction.

        A transaction per sent message capped delivery far below the platforms' rates
        (each commit is an fsync); the first mark waits MARK_LINGER_SECONDS for others,
        and marks that arrive while one is being written wait for the next, which writes
        them all. Returns once this row's mark is committed.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._marks.append((row.id, self.clock(), result_id, done))
        if not self._marking:
            self._marking = True
            self._mark_task = asyncio.create_task(self._write_marks(), name="outbox-marks")
        await done

    async def _write_marks(self) -> None:
        try:
            # more marks per transaction: each one costs a commit (BEGIN/COMMIT hand-offs,
            # an fsync); a quarter of the CPU per message at 1 000/s was marks without this
            await asyncio.sleep(MARK_LINGER_SECONDS)
            while self._marks:
                batch, self._marks = self._marks, []
                try:
                    async with self.db.transaction() as conn:
                        await rows.mark_sent_many(
                            conn, self.worker_id, [(i, at, ext) for i, at, ext, _ in batch]
                        )
                except Exception as exc:
                    for *_, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for *_, done in batch:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._marking = False  # no await since the empty check: no mark is stranded

    async def _settle_failure(self, row: OutboxRow, err: SendError) -> datetime | None:
        at = await self._failed(row, err)
        self._in_flight.discard(row.id)
        return at

    async def _failed(self, row: OutboxRow, err: SendError) -> datetime | None:
        channel = row.address.channel
        attempts = row.attempts + 1
        async with self.db.transaction() as conn:
            if err.retryable and attempts < self.policy.max_attempts:
                delay = self.policy.delay(attempts, err.retry_after, self.rng)
                if err.retry_after:
                    loop_now = asyncio.get_running_loop().time()
                    self.limiter.hold(channel, row.address.address, loop_now + err.retry_after)
                at = self.clock() + timedelta(seconds=delay)
                await rows.reschedule(conn, row.id, self.worker_id, at, error=err.reason)
                OUTBOX_RETRIED.labels(channel).inc()
                log.warning(
                    "outbox.retry",
                    outbox_id=row.id,
                    channel=channel,
                    attempts=attempts,
                    delay=round(delay, 2),
                    reason=err.reason,
                )
                return at
            await rows.mark_failed(conn, row.id, self.worker_id, err.reason)
            if err.unreachable:
                await contacts.update_contact(conn, row.contact_id, reachable=False)
            if self.router is not None and self.router.wants(row, delivered=False):
                # in the same transaction: a failed notice never loses its last route
                await self.router.after(conn, row, self.clock(), delivered=False)
        OUTBOX_FAILED.labels(channel).inc()
        log.warning("outbox.failed", outbox_id=row.id, channel=channel, reason=err.reason)
        return None


class _Stopping(Exception):
    """The worker is stopping: a row whose send has not started is not started."""


def _by_chat(claimed: list[OutboxRow]) -> Iterator[list[OutboxRow]]:
    """The claimed rows per chat, each chat's in id order."""
    chats: dict[tuple[str, str], list[OutboxRow]] = defaultdict(list)
    for row in claimed:
        chats[(row.address.channel, row.address.address)].append(row)
    return iter(chats.values())
