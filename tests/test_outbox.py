"""The outbox worker against real databases and a fake platform."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.__main__ import parser
from bot.channels.base import Channel
from bot.clock import utc_now
from bot.deliveries import Deliveries
from bot.logging import mask_id
from bot.messages import Address, Capabilities, OutboundMessage, Reply, SendResult
from bot.outbox import OutboxWorker, RateLimiter, RetryPolicy
from bot.settings import load_settings
from bot.storage import contacts
from bot.storage import outbox as rows
from bot.storage.contacts import Contact
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.storage.tables import outbox as outbox_table
from tests.conftest import FixedClock
from tests.fakes import FakeChannel

WAIT_LIMIT = 10.0  # seconds: only reached when the code under test is broken
POLICY = RetryPolicy(base_seconds=2.0, cap_seconds=1800.0, max_attempts=5)
LEASE = timedelta(seconds=60)


# --- helpers -------------------------------------------------------------------------------


async def make_contact(db: Database, clock: FixedClock, address: str) -> Contact:
    async with db.transaction() as conn:
        return await contacts.get_or_create(conn, Address("fake", address), clock())


async def enqueue(db: Database, clock: FixedClock, contact: Contact, *texts: str) -> list[int]:
    async with db.transaction() as conn:
        return [
            await rows.enqueue(
                conn,
                contact_id=contact.id,
                address=contact.address,
                reply=Reply(t),
                now=clock(),
            )
            for t in texts
        ]


async def row(db: Database, row_id: int) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(outbox_table).where(outbox_table.c.id == row_id))).one()


def worker(
    db: Database,
    clock: FixedClock,
    channel: FakeChannel,
    name: str = "w1",
    **kwargs: Any,
) -> OutboxWorker:
    kwargs.setdefault("policy", POLICY)
    kwargs.setdefault("rng", random.Random(7))
    return OutboxWorker(db, {channel.name: channel}, worker_id=name, clock=clock, **kwargs)


@pytest.fixture
def fake() -> FakeChannel:
    return FakeChannel()


# --- the fake itself -----------------------------------------------------------------------


async def test_fake_channel_implements_the_protocol(fake: FakeChannel) -> None:
    assert isinstance(fake, Channel)


# --- delivery ------------------------------------------------------------------------------


async def test_delivers_and_marks_sent(db: Database, clock: FixedClock, fake: FakeChannel) -> None:
    alice = await make_contact(db, clock, "alice")
    ids = await enqueue(db, clock, alice, "您好", "第二条")
    w = worker(db, clock, fake)
    assert await w.run_once() == 2
    assert fake.sent_ids() == ids
    assert [m.reply.text for m in fake.sent] == ["您好", "第二条"]
    assert [m.idempotency_key for m in fake.sent] == [f"xf-outbox-{i}" for i in ids]
    assert fake.already_sent_calls == []  # first attempts never ask
    stored = [await row(db, i) for i in ids]
    assert [r.status for r in stored] == ["sent", "sent"]
    assert [r.external_id for r in stored] == ["fake-1", "fake-2"]
    assert [r.attempts for r in stored] == [1, 1]
    assert all(r.sent_at == clock() and r.lease_until is None for r in stored)
    assert await w.run_once() == 0
    assert len(fake.calls) == 2


async def test_per_chat_order_survives_a_retryable_failure(
    db: Database, clock: FixedClock, fake: FakeChannel
) -> None:
    alice = await make_contact(db, clock, "alice")
    bob = await make_contact(db, clock, "bob")
    a_ids = await enqueue(db, clock, alice, "a1", "a2", "a3")
    [b1] = await enqueue(db, clock, bob, "b1")
    fake.fail_address("alice", times=1, reason="HTTP 502")
    w = worker(db, clock, fake)
    await w.run_once()
    assert fake.sent_ids() == [b1]  # the other chat is not held up
    assert [m.outbox_id for m in fake.calls if m.address.address == "alice"] == [a_ids[0]]
    first = await row(db, a_ids[0])
    held = [await row(db, i) for i in a_ids[1:]]
    assert (first.status, first.attempts, first.last_error) == ("pending", 1, "HTTP 502")
    # later rows of the chat wait as long as the failed one, without using up an attempt
    assert [(r.status, r.attempts, r.next_attempt_at) for r in held] == [
        ("pending", 0, first.next_attempt_at)
    ] * 2
    # a message enqueued meanwhile does not overtake them either
    [a4] = await enqueue(db, clock, alice, "a4")
    assert await w.run_once() == 0
    clock.now = first.next_attempt_at
    await w.run_once()
    assert fake.sent_ids("alice") == [*a_ids, a4]
    assert fake.already_sent_calls == [f"xf-outbox-{a_ids[0]}"]  # only the retried one


async def test_backoff_is_exponential_with_jitter(
    db: Database, clock: FixedClock, fake: FakeChannel
) -> None:
    alice = await make_contact(db, clock, "alice")
    [row_id] = await enqueue(db, clock, alice, "x")
    fake.fail_address("alice", reason="timeout")
    w = worker(db, clock, fake, policy=RetryPolicy(base_seconds=2, cap_seconds=10, max_attempts=9))
    delays = []
    for attempt in range(1, 7):
        failed_at = clock()
        assert await w.run_once() == 1
        stored = await row(db, row_id)
        assert (stored.status, stored.attempts, stored.last_error) == (
            "pending",
            attempt,
            "timeout",
        )
        delay = (stored.next_attempt_at - failed_at).total_seconds()
        backoff = min(10, 2 * 2 ** (attempt - 1))
        assert backoff / 2 <= delay <= backoff
        delays.append(delay)
        # not a moment earlier
        clock.now = stored.next_attempt_at - timedelta(microseconds=1)
        assert await w.run_once() == 0
        clock.now = stored.next_attempt_at
    assert len(set(delays)) == len(delays)  # jittered, not a fixed schedule
    assert len(fake.calls) == 6 and fake.sent == []


def test_retry_policy_windows() -> None:
    policy = RetryPolicy(base_seconds=2, cap_seconds=60, max_attempts=12)
    rng = random.Random(1)
    for attempts in range(1, 15):
        backoff = min(60, 2 * 2 ** (attempts - 1))
        draws = [policy.delay(attempts, None, rng) for _ in range(200)]
        assert all(backoff / 2 <= d <= backoff for d in draws)
        assert max(draws) - min(draws) > backoff / 4  # the jitter spans the window
    assert policy.delay(1, 30.0, rng) == 30.0  # the platform's retry_after wins
    assert policy.delay(6, 0.5, rng) >= 30.0  # but never shortens the backoff
    assert policy.delay(0, None, rng) <= 2.0
    a, b = random.Random(5), random.Random(5)
    assert [policy.delay(3, None, a) for _ in range(5)] == [
        policy.delay(3, None, b) for _ in range(5)
    ]


async def test_retry_after_is_honoured(db: Database, clock: FixedClock, fake: FakeChannel) -> None:
    alice = await make_contact(db, clock, "alice")
    [row_id] = await enqueue(db, clock, alice, "x")
    fake.fail_next(retry_after=30.0, reason="429 Too Many Requests")
    w = worker(db, clock, fake)
    start = clock()
    await w.run_once()
    stored = await row(db, row_id)
    assert stored.status == "pending" and stored.attempts == 1
    assert stored.next_attempt_at == start + timedelta(seconds=30)  # backoff(1) <= 2 s
    clock.advance(seconds=29.999)
    assert await w.run_once() == 0
    assert len(fake.calls) == 1
    # after retry_after the next worker delivers it (this worker also holds the chat on
    # its monotonic clock, which a FixedClock cannot move)
    clock.advance(seconds=0.001)
    assert await worker(db, clock, fake, "w2").run_once() == 1
    assert fake.sent_ids() == [row_id]


async def test_retry_after_holds_the_chat_in_this_worker(
    db: Database, clock: FixedClock, fake: FakeChannel
) -> None:
    alice = await make_contact(db, clock, "alice")
    bob = await make_contact(db, clock, "bob")
    fake.fail_next(retry_after=30.0)
    w = worker(db, clock, fake)
    [a1] = await enqueue(db, clock, alice, "a1")
    await w.run_once()
    # the row is due again by the database clock, but the platform said 30 s of real time
    clock.advance(seconds=30)
    [b1] = await enqueue(db, clock, bob, "b1")
    await w.run_once()
    assert fake.sent_ids() == [b1]
    stored = await row(db, a1)
    assert (stored.status, stored.attempts) == ("pending", 1)
    assert clock() < stored.next_attempt_at <= clock() + timedelta(seconds=30)


async def test_permanent_failure(db: Database, clock: FixedClock, fake: FakeChannel) -> None:
    alice = await make_contact(db, clock, "alice")
    first, second = await enqueue(db, clock, alice, "bad", "good")
    fake.fail_next(retryable=False, reason="400 message is too long")
    w = worker(db, clock, fake)
    await w.run_once()
    stored = await row(db, first)
    assert (stored.status, stored.attempts, stored.last_error) == (
        "failed",
        1,
        "400 message is too long",
    )
    assert fake.sent_ids() == [second]  # a failed row does not block its chat
    clock.advance(days=1)
    assert await w.run_once() == 0
    assert len(fake.calls) == 2
    async with db.read() as conn:
        assert (await contacts.get(conn, alice.id)).reachable is True


async def test_unreachable_marks_the_contact(
    db: Database, clock: FixedClock, fake: FakeChannel
) -> None:
    alice = await make_contact(db, clock, "alice")
    bob = await make_contact(db, clock, "bob")
    [a1] = await enqueue(db, clock, alice, "x")
    [b1] = await enqueue(db, clock, bob, "y")
    fake.fail_address("alice", retryable=False, unreachable=True, reason="403 bot was blocked")
    await worker(db, clock, fake).run_once()
    assert (await row(db, a1)).status == "failed"
    assert (await row(db, b1)).status == "sent"
    async with db.read() as conn:
        assert (await contacts.get(conn, alice.id)).reachable is False
        assert (await contacts.get(conn, bob.id)).reachable is True


async def test_max_attempts_exhausted(db: Database, clock: FixedClock, fake: FakeChannel) -> None:
    alice = await make_contact(db, clock, "alice")
    [row_id] = await enqueue(db, clock, alice, "x")
    fake.fail_address("alice", reason="503")
    w = worker(db, clock, fake, policy=RetryPolicy(base_seconds=1, max_attempts=3))
    for _ in range(10):
        await w.run_once()
        clock.advance(hours=1)
    stored = await row(db, row_id)
    assert (stored.status, stored.attempts, stored.last_error) == ("failed", 3, "503")
    assert len(fake.calls) == 3


async def test_unexpected_exception_is_retried(
    db: Database, clock: FixedClock, fake: FakeChannel
) -> None:
    alice = await make_contact(db, clock, "alice")
    [row_id] = await enqueue(db, clock, alice, "x")

    async def boom(message: Any) -> Any:
        raise KeyError("bug in the client")

    fake.send = boom  # type: ignore[method-assign]
    await worker(db, clock, fake).run_once()
    stored = await row(db, row_id)
    assert (stored.status, stored.attempts) == ("pending", 1)
    assert "KeyError" in stored.last_error


async def test_per_chat_rate_limit(db: Database, clock: FixedClock) -> None:
    fake = FakeChannel(capabilities=Capabilities(rate_per_chat_per_second=1))
    alice = await make_contact(db, clock, "alice")
    bob = await make_contact(db, clock, "bob")
    a1, a2, a3 = await enqueue(db, clock, alice, "a1", "a2", "a3")
    [b1] = await enqueue(db, clock, bob, "b1")
    await worker(db, clock, fake, max_inline_wait=0).run_once()
    assert sorted(fake.sent_ids()) == sorted([a1, b1])
    waiting = [await row(db, i) for i in (a2, a3)]
    for r in waiting:
        assert (r.status, r.attempts, r.last_error) == ("pending", 0, None)
        assert clock() < r.next_attempt_at <= clock() + timedelta(seconds=1)
    assert len(fake.calls) == 2  # no attempt was made for the waiting rows


async def test_short_rate_limit_waits_happen_in_process(db: Database, clock: FixedClock) -> None:
    # a channel-wide limit of 50/s must not cost a database round trip per message
    fake = FakeChannel(capabilities=Capabilities(rate_per_second=50))
    ids = []
    for n in range(20):
        contact = await make_contact(db, clock, f"chat-{n}")
        ids += await enqueue(db, clock, contact, f"m{n}")
    await worker(db, clock, fake).run_once()
    assert sorted(fake.sent_ids()) == sorted(ids)  # one batch, nothing put back


async def test_long_rate_limit_waits_go_back_to_the_table(db: Database, clock: FixedClock) -> None:
    fake = FakeChannel(capabilities=Capabilities(rate_per_chat_per_second=0.2))
    alice = await make_contact(db, clock, "alice")
    a1, a2, a3 = await enqueue(db, clock, alice, "a1", "a2", "a3")
    await worker(db, clock, fake, max_inline_wait=2).run_once()
    assert fake.sent_ids() == [a1]  # the next slot is 5 s away: longer than worth holding
    for later in [await row(db, a2), await row(db, a3)]:
        assert (later.status, later.attempts) == ("pending", 0)
        assert later.next_attempt_at > clock()


def test_rate_limiter_spacing() -> None:
    fake = FakeChannel(capabilities=Capabilities(rate_per_second=10, rate_per_chat_per_second=1))
    limiter = RateLimiter()
    assert limiter.reserve(fake, "a", 100.0) == 0
    assert limiter.reserve(fake, "b", 100.0) == pytest.approx(0.1)  # channel-wide spacing
    assert limiter.reserve(fake, "b", 100.1) == 0
    assert limiter.reserve(fake, "a", 100.2) == pytest.approx(0.8)  # per-chat spacing
    assert limiter.reserve(fake, "a", 101.0) == 0
    limiter.hold("fake", "c", 130.0)
    assert limiter.reserve(fake, "c", 110.0) == pytest.approx(20.0)
    unlimited = FakeChannel(name="other")
    assert all(limiter.reserve(unlimited, "a", 1.0) == 0 for _ in range(100))


def test_rate_limiter_rebooks_a_late_send_without_a_burst() -> None:
    fake = FakeChannel(capabilities=Capabilities(rate_per_second=100, rate_per_chat_per_second=1))
    limiter = RateLimiter()
    slots = [limiter.reserve(fake, f"c{i}", 10.0, max_wait=1.0) for i in range(5)]
    assert slots == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])
    # the loop stalled for a second: the late sends are spaced again from now, one by one
    assert [limiter.rebook(fake, 11.0) for _ in range(3)] == pytest.approx([0.0, 0.01, 0.02])
    # rebook left the chats alone: c0 waits for the channel, not for another second
    assert limiter.reserve(fake, "c0", 11.0, max_wait=1.0) == pytest.approx(0.03)
    assert limiter.rebook(FakeChannel(name="unlimited"), 11.0) == 0.0


async def test_crash_between_send_and_mark_is_not_sent_twice(
    db: Database, clock: FixedClock
) -> None:
    fake = FakeChannel(remember_sends=True)
    alice = await make_contact(db, clock, "alice")
    [row_id] = await enqueue(db, clock, alice, "只发一次")
    # worker 1 claims and sends, then dies before marking the row
    async with db.transaction() as conn:
        [claimed] = await rows.claim_due(
            conn,
            worker="crashed",
            now=clock(),
            limit=10,
            lease=timedelta(seconds=60),
            channels=["fake"],
        )
    await fake.send(claimed.message())
    assert await worker(db, clock, fake, "w2").run_once() == 0  # lease still held
    clock.advance(seconds=61)
    assert await worker(db, clock, fake, "w2").run_once() == 1
    assert fake.already_sent_calls == [f"xf-outbox-{row_id}"]
    assert fake.sent_ids() == [row_id]  # not twice
    stored = await row(db, row_id)
    assert (stored.status, stored.claimed_by, stored.attempts) == ("sent", "w2", 1)


async def test_crash_before_send_is_sent_after_the_lease(db: Database, clock: FixedClock) -> None:
    fake = FakeChannel(remember_sends=True)
    alice = await make_contact(db, clock, "alice")
    [row_id] = await enqueue(db, clock, alice, "x")
    async with db.transaction() as conn:
        await rows.claim_due(
            conn,
            worker="crashed",
            now=clock(),
            limit=10,
            lease=timedelta(seconds=60),
            channels=["fake"],
        )
    clock.advance(seconds=61)
    await worker(db, clock, fake, "w2").run_once()
    assert fake.already_sent_calls == [f"xf-outbox-{row_id}"]
    assert fake.sent_ids() == [row_id]


@pytest.mark.parametrize("attempts_before", [0, 1])
@pytest.mark.parametrize(
    ("kind", "resent"),
    [
        # Telegram and WeChat cannot say whether a send arrived: a broadcast whose worker
        # died mid-send is not sent again by itself (at most once; staff may retry it)
        ("broadcast", False),
        # a reply or case push is worth a possible duplicate: asked, then sent again
        ("reply", True),
        ("push", True),
    ],
)
async def test_expired_lease_after_a_dead_worker(
    db: Database, clock: FixedClock, kind: str, resent: bool, attempts_before: int
) -> None:
    fake = FakeChannel()  # already_sent answers "not known to be sent", as Telegram does
    alice = await make_contact(db, clock, "alice")
    async with db.transaction() as conn:
        row_id = await rows.enqueue(
            conn,
            contact_id=alice.id,
            address=alice.address,
            reply=Reply("通知"),
            now=clock(),
            kind=kind,
        )
        await conn.execute(
            update(outbox_table)
            .where(outbox_table.c.id == row_id)
            .values(attempts=attempts_before)  # 1: a counted attempt before this claim
        )
        [claimed] = await rows.claim_due(
            conn, worker="crashed", now=clock(), limit=10, lease=LEASE, channels=["fake"]
        )
    assert claimed.id == row_id  # committed as "sending" before any send could start
    clock.advance(seconds=61)
    handled = await worker(db, clock, fake, "w2").run_once()
    stored = await row(db, row_id)
    if resent:
        assert handled == 1
        assert fake.already_sent_calls == [f"xf-outbox-{row_id}"]
        assert fake.sent_ids() == [row_id]
        assert (stored.status, stored.claimed_by) == ("sent", "w2")
        return
    assert handled == 0 and fake.calls == [] and fake.already_sent_calls == []
    assert (stored.status, stored.last_error) == ("failed", rows.UNCONFIRMED)
    assert (stored.attempts, stored.lease_until) == (attempts_before + 1, None)
    # staff see it among the failed deliveries and may send it again deliberately
    deliveries = Deliveries(db, clock=clock)
    page = await deliveries.problems(problem="failed")
    assert [(d.id, d.last_error) for d in page.items] == [(row_id, rows.UNCONFIRMED)]
    [outcome] = await deliveries.retry([row_id], actor="staff:li")
    assert outcome.done
    assert await worker(db, clock, fake, "w2").run_once() == 1
    assert fake.sent_ids() == [row_id]


async def test_a_broadcast_in_flight_when_cancelled_is_not_sent_again(
    db: Database, clock: FixedClock, fake: FakeChannel
) -> None:
    alice = await make_contact(db, clock, "alice")
    bob = await make_contact(db, clock, "bob")
    async with db.transaction() as conn:
        ids = [
            await rows.enqueue(
                conn, contact_id=c.id, address=c.address, reply=Reply(t), now=clock(),
                kind=rows.BROADCAST,
            )
            for c, t in ((alice, "b1"), (alice, "b2"), (bob, "b3"))
        ]  # fmt: skip
    b1, b2, b3 = ids
    fake.gate = asyncio.Event()
    task = asyncio.create_task(worker(db, clock, fake).run(asyncio.Event()))
    await asyncio.wait_for(fake.entered.wait(), WAIT_LIMIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT_LIMIT)
    # b1 and b3 had been handed to the platform: delivery unknown, not resent;
    # b2 never started: back in the queue
    for row_id in (b1, b3):
        stored = await row(db, row_id)
        assert (stored.status, stored.last_error, stored.attempts) == (
            "failed",
            rows.UNCONFIRMED,
            1,
        )
    assert ((await row(db, b2)).status, (await row(db, b2)).attempts) == ("pending", 0)
    fake.gate = None
    assert await worker(db, clock, fake, "w2").run_once() == 1
    assert fake.sent_ids() == [b2]


async def test_stop_hands_back_claimed_rows_not_yet_started(
    db: Database, clock: FixedClock
) -> None:
    # a channel-wide rate that spaces the batch out: most rows wait for their slot
    fake = FakeChannel(capabilities=Capabilities(rate_per_second=20))
    chats = [await make_contact(db, clock, f"c{i}") for i in range(10)]
    ids = [(await enqueue(db, clock, c, "x"))[0] for c in chats]
    stop = asyncio.Event()
    task = asyncio.create_task(worker(db, clock, fake, batch=10).run(stop))
    await asyncio.wait_for(fake.entered.wait(), WAIT_LIMIT)
    stop.set()
    await asyncio.wait_for(task, WAIT_LIMIT)
    stored = {i: await row(db, i) for i in ids}
    sent = {i for i in ids if stored[i].status == "sent"}
    assert sent == set(fake.sent_ids()) and 0 < len(sent) < len(ids)
    for i in set(ids) - sent:  # never handed to the platform: no attempt counted
        assert (stored[i].status, stored[i].attempts, stored[i].lease_until) == (
            "pending",
            0,
            None,
        )


async def test_run_claims_ahead_and_keeps_each_chat_in_order(
    db: Database, clock: FixedClock
) -> None:
    """run() claims the next batch while half of the last one is still going out; a
    chat's rows still go out one at a time and in order."""
    fake = InFlightChannel()
    fake.capabilities = Capabilities(rate_per_second=200)  # spread out like a real platform
    chats = [await make_contact(db, clock, f"c{i}") for i in range(5)]
    expected: dict[str, list[int]] = {}
    for n in range(6):
        for chat in chats:
            expected.setdefault(chat.address.address, []).extend(
                await enqueue(db, clock, chat, f"#{n}")
            )
    sending_at_claim: list[int] = []
    real_claim = rows.claim_due

    async def claim_due(conn: Any, **kwargs: Any) -> list[rows.OutboxRow]:
        sending = (await rows.counts_by_status(conn)).get(("fake", "sending"), 0)
        sending_at_claim.append(sending)
        return await real_claim(conn, **kwargs)

    w = worker(db, clock, fake, batch=4, poll_seconds=0.01)
    stop = asyncio.Event()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rows, "claim_due", claim_due)
        task = asyncio.create_task(w.run(stop))

        async def delivered() -> None:
            while len(fake.sent) < 30:
                await asyncio.sleep(0.001)

        await asyncio.wait_for(delivered(), WAIT_LIMIT)
        stop.set()
        await asyncio.wait_for(task, WAIT_LIMIT)
    assert fake.overlaps == []
    for chat, chat_ids in expected.items():
        assert fake.sent_ids(chat) == chat_ids
    assert set(fake.send_counts().values()) == {1}
    assert max(sending_at_claim) > 0  # a batch was claimed while the last was still going


async def test_retry_checks_already_sent(db: Database, clock: FixedClock) -> None:
    """A send that timed out may have arrived: the retry asks before sending again."""
    fake = FakeChannel()
    alice = await make_contact(db, clock, "alice")
    [row_id] = await enqueue(db, clock, alice, "x")
    fake.fail_next(reason="read timeout")
    w = worker(db, clock, fake)
    await w.run_once()
    fake.report_already_sent(f"xf-outbox-{row_id}")
    clock.advance(hours=1)
    await w.run_once()
    assert fake.sent == [] and len(fake.calls) == 1
    stored = await row(db, row_id)
    assert (stored.status, stored.attempts) == ("sent", 2)


async def test_two_workers_send_each_row_exactly_once(db: Database, clock: FixedClock) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite serialises writers; concurrent workers are a PostgreSQL property")
    fake = FakeChannel()
    chats = [await make_contact(db, clock, f"c{i}") for i in range(30)]
    ids: list[int] = []
    for n in range(10):
        for chat in chats:
            ids += await enqueue(db, clock, chat, f"{chat.address.address} #{n}")
    assert len(ids) == 300
    w1 = worker(db, clock, fake, "w1", batch=20)
    w2 = worker(db, clock, fake, "w2", batch=20)

    async def drain() -> None:
        while True:
            handled = await asyncio.gather(w1.run_once(), w2.run_once())
            async with db.read() as conn:
                left = await rows.counts_by_status(conn)
            if sum(handled) == 0 and set(left) == {("fake", "sent")}:
                return

    await asyncio.wait_for(drain(), WAIT_LIMIT * 3)
    assert sorted(fake.sent_ids()) == sorted(ids)
    assert set(fake.send_counts().values()) == {1}
    async with db.read() as conn:
        assert await rows.counts_by_status(conn) == {("fake", "sent"): 300}
    holders = {(await row(db, i)).claimed_by for i in ids}
    assert holders == {"w1", "w2"}


async def test_run_delivers_until_stopped(
    db: Database, clock: FixedClock, fake: FakeChannel
) -> None:
    alice = await make_contact(db, clock, "alice")
    w = worker(db, clock, fake, poll_seconds=60)
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    ids = await enqueue(db, clock, alice, "a", "b")
    w.wake()  # an idle worker does not wait for its poll interval

    async def delivered() -> None:
        while len(fake.sent) < 2:
            await asyncio.sleep(0.001)

    await asyncio.wait_for(delivered(), WAIT_LIMIT)
    stop.set()
    await asyncio.wait_for(task, WAIT_LIMIT)
    assert fake.sent_ids() == ids


async def test_stop_finishes_the_current_send(
    db: Database, clock: FixedClock, fake: FakeChannel
) -> None:
    alice = await make_contact(db, clock, "alice")
    [row_id] = await enqueue(db, clock, alice, "a")
    fake.gate = asyncio.Event()
    stop = asyncio.Event()
    task = asyncio.create_task(worker(db, clock, fake, poll_seconds=60).run(stop))
    await asyncio.wait_for(fake.entered.wait(), WAIT_LIMIT)
    stop.set()
    await asyncio.sleep(0)
    assert not task.done()
    fake.gate.set()
    await asyncio.wait_for(task, WAIT_LIMIT)
    assert (await row(db, row_id)).status == "sent"


async def test_cancelled_worker_releases_its_rows(
    db: Database, clock: FixedClock, fake: FakeChannel
) -> None:
    alice = await make_contact(db, clock, "alice")
    bob = await make_contact(db, clock, "bob")
    a1, a2 = await enqueue(db, clock, alice, "a1", "a2")
    [b1] = await enqueue(db, clock, bob, "b")
    fake.gate = asyncio.Event()
    task = asyncio.create_task(worker(db, clock, fake).run(asyncio.Event()))
    await asyncio.wait_for(fake.entered.wait(), WAIT_LIMIT)
    assert (await row(db, a1)).status == "sending"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT_LIMIT)
    # a1 and b1 were being sent when the worker stopped: they may have arrived, so they
    # come back with the attempt counted; a2 was claimed but never started
    for row_id, attempts in ((a1, 1), (b1, 1), (a2, 0)):
        stored = await row(db, row_id)
        assert (stored.status, stored.lease_until, stored.attempts) == ("pending", None, attempts)
    assert (await row(db, a1)).last_error == rows.INTERRUPTED
    # another worker picks them up at once, without waiting for a lease to expire, and
    # asks the platform about the interrupted ones before sending them again
    fake.gate = None
    fake.report_already_sent(f"xf-outbox-{b1}")
    assert await worker(db, clock, fake, "w2").run_once() == 3
    assert sorted(fake.already_sent_calls) == sorted([f"xf-outbox-{a1}", f"xf-outbox-{b1}"])
    assert fake.sent_ids("alice") == [a1, a2] and fake.sent_ids("bob") == []
    assert [(await row(db, i)).status for i in (a1, a2, b1)] == ["sent"] * 3


async def test_on_sent_is_called_after_marking(
    db: Database, clock: FixedClock, fake: FakeChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_contact(db, clock, "alice")
    bob = await make_contact(db, clock, "bob")
    [ok] = await enqueue(db, clock, alice, "ok")
    [bad] = await enqueue(db, clock, bob, "bad")
    [retried] = await enqueue(db, clock, bob, "later")
    events: list[tuple[str, int]] = []
    real_mark_sent_many = rows.mark_sent_many

    # the worker marks deliveries in groups (one transaction for those finishing together)
    async def mark_sent_many(conn: Any, worker_id: str, items: list[Any]) -> None:
        await real_mark_sent_many(conn, worker_id, items)
        events.extend(("marked", row_id) for row_id, *_ in items)

    monkeypatch.setattr(rows, "mark_sent_many", mark_sent_many)
    fake.fail_address("bob", retryable=False, times=1)
    fake.fail_address("carol", retryable=True)
    w = worker(db, clock, fake, on_sent=lambda r: events.append(("on_sent", r.id)))
    await w.run_once()
    # delivered rows are reported after they were marked; the failed one is not reported
    assert sorted(events) == sorted(
        [("marked", ok), ("on_sent", ok), ("marked", retried), ("on_sent", retried)]
    )
    for row_id in (ok, retried):
        assert events.index(("marked", row_id)) < events.index(("on_sent", row_id))
    assert ("on_sent", bad) not in events


class InFlightChannel(FakeChannel):
    """A fake platform that notes when two messages of one chat are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight: Counter[str] = Counter()
        self.overlaps: list[tuple[str, int]] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        chat = message.address.address
        self.in_flight[chat] += 1
        if self.in_flight[chat] > 1:
            self.overlaps.append((chat, message.outbox_id))
        try:
            for _ in range(3):  # a network round trip: let the other worker run meanwhile
                await asyncio.sleep(0)
            return await super().send(message)
        finally:
            self.in_flight[chat] -= 1


async def test_two_workers_keep_each_chat_in_order(db: Database, clock: FixedClock) -> None:
    """Several PostgreSQL workers: one chat's rows are never in flight together, and go
    out in the order they were written, while different chats are spread over workers."""
    if not db.is_postgres:
        pytest.skip("SQLite serialises writers; concurrent workers are a PostgreSQL property")
    fake = InFlightChannel()
    chats = [await make_contact(db, clock, f"c{i}") for i in range(3)]
    expected: dict[str, list[int]] = {}
    for n in range(40):
        for chat in chats:
            expected.setdefault(chat.address.address, []).extend(
                await enqueue(db, clock, chat, f"#{n}")
            )
    workers = [worker(db, clock, fake, f"w{i}", batch=4) for i in range(3)]

    async def drain(w: OutboxWorker) -> None:
        while True:
            await w.run_once()
            async with db.read() as conn:
                left = await rows.counts_by_status(conn)
            if set(left) == {("fake", "sent")}:
                return
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(*(drain(w) for w in workers)), WAIT_LIMIT * 6)
    assert fake.overlaps == []
    for chat, ids in expected.items():
        assert fake.sent_ids(chat) == ids
    assert set(fake.send_counts().values()) == {1}
    holders = {(await row(db, i)).claimed_by for ids in expected.values() for i in ids}
    assert len(holders) > 1  # the chats really were shared out


# --- xinfang outbox (CLI) ------------------------------------------------------------------


def test_outbox_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("XINFANG_DATABASE_URL", url)
    monkeypatch.setenv("XINFANG_DATA_DIR", str(tmp_path / "data"))
    openid = "oWx-secret-openid-123"

    async def setup() -> list[int]:
        db = Database(url)
        try:
            await upgrade(db)
            clock = FixedClock(utc_now() - timedelta(hours=1))
            async with db.transaction() as conn:
                contact = await contacts.get_or_create(conn, Address("wechat", openid), clock())
                ids = [
                    await rows.enqueue(
                        conn, contact_id=contact.id, address=contact.address,
                        reply=Reply(t), now=clock(),
                    )
                    for t in ("a", "b", "c")
                ]  # fmt: skip
                await conn.execute(
                    update(outbox_table)
                    .where(outbox_table.c.id.in_(ids[:2]))
                    .values(status="failed", attempts=12, last_error="45015 用户 13812345678 超时")
                )
            return ids
        finally:
            await db.dispose()

    ids = asyncio.run(setup())

    def run(*argv: str) -> int:
        args = parser().parse_args(["outbox", "--actor", "staff:li", *argv])
        return int(args.func(load_settings(), args))

    assert run("list", "--status", "failed") == 0
    out = capsys.readouterr().out
    assert "failed 2 (wechat 2); stuck 0" in out and "showing 1-2 of 2" in out
    assert f"#{ids[1]}" in out and f"#{ids[0]}" in out and f"#{ids[2]}" not in out
    assert openid not in out and f"wechat:{mask_id(openid)}" in out
    assert "13812345678" not in out and "45015" in out
    assert run("list", "--channel", "telegram") == 0
    assert "no delivery matches" in capsys.readouterr().out

    assert run("retry", str(ids[0])) == 0
    assert f"#{ids[0]}: queued again" in capsys.readouterr().out
    assert run("retry", str(ids[0]), "--all-failed") == 2  # one or the other
    assert run("retry", "--all-failed", "--channel", "wechat") == 0
    assert "1 failed message(s) queued again" in capsys.readouterr().out
    assert run("cancel", str(ids[2]), "999") == 1  # one row did not exist
    out = capsys.readouterr().out
    assert f"#{ids[2]}: cancelled" in out and "#999: not changed, no such message" in out
    assert run("list", "--case", "XF12") == 1
    assert "not a valid tracking number" in capsys.readouterr().err
