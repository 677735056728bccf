"""The storage contract, run against a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from bot.messages import Address, Choice, Reply
from bot.storage import attachments, cases, contacts, files, inbound
from bot.storage import outbox as rows
from bot.storage.contacts import Contact
from bot.storage.db import Database
from bot.storage.tables import attachments as attachments_table
from bot.storage.tables import contacts as contacts_table
from bot.storage.tables import outbox as outbox_table
from tests.conftest import FixedClock

LEASE = timedelta(seconds=60)
WAIT_LIMIT = 10.0  # seconds: only ever reached when the code under test is broken


# --- helpers -------------------------------------------------------------------------------


async def make_contact(
    db: Database, clock: FixedClock, address: str = "u1", channel: str = "web"
) -> Contact:
    async with db.transaction() as conn:
        return await contacts.get_or_create(conn, Address(channel, address), clock())


async def wait_for_lock_waiters(db: Database, n: int = 1) -> None:
    """PostgreSQL: return once ``n`` backends of this database wait on a lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )

    async def poll() -> None:
        while True:
            async with db.read() as conn:
                if (await conn.execute(query)).scalar_one() >= n:
                    return
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), WAIT_LIMIT)


async def blocked_behind(
    db: Database,
    first: Callable[[asyncio.Event], Awaitable[Any]],
    second: Callable[[], Awaitable[Any]],
    order: list[str],
) -> tuple[Any, Any]:
    """Run ``first`` (which holds its transaction until released) and then ``second``.

    ``first`` gets an event to wait on before committing. ``second`` starts only after
    ``first`` did its work; on PostgreSQL we wait until ``second`` is provably blocked on
    a lock before releasing ``first``.
    """
    release = asyncio.Event()
    first_task = asyncio.create_task(first(release))
    await asyncio.wait_for(_wait_for(order, "first:done"), WAIT_LIMIT)
    second_task = asyncio.create_task(second())
    if db.is_postgres:
        await wait_for_lock_waiters(db)
        assert not second_task.done()
    order.append("release")
    release.set()
    return await asyncio.wait_for(asyncio.gather(first_task, second_task), WAIT_LIMIT)


async def _wait_for(order: list[str], mark: str) -> None:
    while mark not in order:
        await asyncio.sleep(0)


def case_values(contact_id: int, tracking_no: str, now: datetime, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "tracking_no": tracking_no,
        "contact_id": contact_id,
        "channel": "web",
        "status": "submitted",
        "lang": "zh",
        "form_id": "petition",
        "form_version": 1,
        "appeal_type": "complaint",
        "category": "housing",
        "region": "haidian",
        "name": "张三",
        "phone": "",
        "answers": {"诉求": "小区噪音扰民", "nested": {"list": [1, "二", None]}},
        "flags": ["repeat"],
        "submitted_at": now,
        "updated_at": now,
        "due_at": now + timedelta(days=15),
    }
    values.update(extra)
    return values


async def outbox_row(db: Database, row_id: int) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(outbox_table).where(outbox_table.c.id == row_id))).one()


async def enqueue(
    db: Database, clock: FixedClock, contact: Contact, n: int = 1, text_: str = "消息"
) -> list[int]:
    ids = []
    async with db.transaction() as conn:
        for i in range(n):
            ids.append(
                await rows.enqueue(
                    conn,
                    contact_id=contact.id,
                    address=contact.address,
                    reply=Reply(f"{text_} {i}"),
                    now=clock(),
                )
            )
    return ids


async def claim(
    db: Database,
    worker: str,
    now: datetime,
    limit: int = 50,
    channels: list[str] | None = None,
) -> list[rows.OutboxRow]:
    async with db.transaction() as conn:
        return await rows.claim_due(
            conn, worker=worker, now=now, limit=limit, lease=LEASE, channels=channels or ["web"]
        )


# --- contacts ------------------------------------------------------------------------------


async def test_get_or_create_is_idempotent(db: Database, clock: FixedClock) -> None:
    first = await make_contact(db, clock, "u1")
    clock.advance(minutes=5)
    again = await make_contact(db, clock, "u1")
    other_channel = await make_contact(db, clock, "u1", channel="telegram")
    assert again == first
    assert other_channel.id != first.id
    assert first.address == Address("web", "u1")
    assert first.lang == "zh" and first.reachable is True and first.last_inbound_at is None
    async with db.read() as conn:
        assert await contacts.find(conn, Address("web", "u1")) == first
        assert await contacts.find(conn, Address("web", "nobody")) is None
        assert await contacts.get(conn, first.id) == first


async def test_get_or_create_concurrently_yields_one_contact(
    db: Database, clock: FixedClock
) -> None:
    address = Address("telegram", "42")

    async def create() -> Contact:
        async with db.transaction() as conn:
            contact = await contacts.get_or_create(conn, address, clock())
            await asyncio.sleep(0)  # keep both transactions open at the same time
            return contact

    results = await asyncio.gather(*(create() for _ in range(4)))
    assert len({c.id for c in results}) == 1
    async with db.read() as conn:
        count = (
            await conn.execute(select(text("count(*)")).select_from(contacts_table))
        ).scalar_one()
    assert count == 1


async def test_update_contact(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)
    async with db.transaction() as conn:
        await contacts.update_contact(
            conn, contact.id, lang="en", reachable=False, last_inbound_at=clock()
        )
    async with db.read() as conn:
        updated = await contacts.get(conn, contact.id)
    assert (updated.lang, updated.reachable, updated.last_inbound_at) == ("en", False, clock())


async def test_touch_keeps_last_inbound_to_the_minute(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)

    async def touch() -> Contact:
        async with db.transaction() as conn:
            await contacts.touch_many(conn, [await contacts.get(conn, contact.id)], clock())
            return await contacts.get(conn, contact.id)

    first = clock()
    assert (await touch()).last_inbound_at == first  # never wrote before
    clock.advance(seconds=30)
    assert (await touch()).last_inbound_at == first  # less than a minute: not rewritten
    async with db.transaction() as conn:
        await contacts.update_contact(conn, contact.id, reachable=False)
    clock.advance(seconds=1)
    back = await touch()  # an unreachable contact that writes is reachable again at once
    assert back.reachable is True and back.last_inbound_at == clock()
    clock.advance(minutes=1)
    assert (await touch()).last_inbound_at == clock()


# --- inbound -------------------------------------------------------------------------------


async def record(db: Database, clock: FixedClock, contact: Contact, ext: str, **kw: Any) -> Any:
    async with db.transaction() as conn:
        return await inbound.record(
            conn,
            channel=kw.get("channel", "web"),
            external_id=ext,
            contact_id=contact.id,
            received_at=clock(),
            text=kw.get("text", "你好"),
            meta=kw.get("meta"),
        )


async def test_inbound_record_dedupes_per_channel(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)
    first = await record(db, clock, contact, "m-1", meta={"command": "start"})
    assert isinstance(first, int)
    assert await record(db, clock, contact, "m-1") is None
    other = await record(db, clock, contact, "m-1", channel="telegram")
    assert isinstance(other, int) and other != first
    assert isinstance(await record(db, clock, contact, "m-2"), int)
    async with db.read() as conn:
        history = await inbound.for_contact(conn, contact.id)
    assert [r.external_id for r in history] == ["m-1", "m-1", "m-2"]
    assert history[0].meta == {"command": "start"}
    assert history[0].received_at == clock()


async def test_inbound_record_concurrent_duplicate(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)
    order: list[str] = []

    async def first(release: asyncio.Event) -> int | None:
        async with db.transaction() as conn:
            got = await inbound.record(
                conn,
                channel="wechat",
                external_id="dup",
                contact_id=contact.id,
                received_at=clock(),
                text="一",
                meta=None,
            )
            order.append("first:done")
            await release.wait()
        order.append("first:committed")
        return got

    async def second() -> int | None:
        async with db.transaction() as conn:
            got = await inbound.record(
                conn,
                channel="wechat",
                external_id="dup",
                contact_id=contact.id,
                received_at=clock(),
                text="二",
                meta=None,
            )
            order.append("second:done")
        return got

    got_first, got_second = await blocked_behind(db, first, second, order)
    assert isinstance(got_first, int)
    assert got_second is None
    # (the second statement can only finish after the first transaction was let go)
    assert order.index("second:done") > order.index("release")
    async with db.read() as conn:
        history = await inbound.for_contact(conn, contact.id)
    assert [r.text for r in history] == ["一"]


async def test_stored_replies_round_trip(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)
    inbound_id = await record(db, clock, contact, "m-1")
    async with db.read() as conn:
        assert await inbound.stored_replies(conn, "web", "m-1") is None  # not answered yet
        assert await inbound.stored_replies(conn, "web", "unknown") is None
    replies = [
        Reply("请选择诉求类型 😀", (Choice("complaint", "投诉"), Choice("advice", "建议"))),
        Reply('引号 "quoted" 和反斜杠 \\ 以及换行\n第二行'),
    ]
    async with db.transaction() as conn:
        await inbound.save_replies(conn, inbound_id, replies, "outbox")
    async with db.read() as conn:
        stored = await inbound.stored_replies(conn, "web", "m-1")
    assert stored is not None
    assert stored.inbound_id == inbound_id
    assert stored.replies == replies
    assert stored.mode == "outbox"


# --- conversation state --------------------------------------------------------------------


STATE = {
    "step": "诉求内容",
    "answers": {"姓名": "李四", "emoji": "🙏🏻👨‍👩‍👧", "nested": {"deep": [1, 2.5, True, None]}},
    "empty": {},
}


async def test_state_round_trip_and_version(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)
    async with db.transaction() as conn:
        state, version = await contacts.lock_state(conn, contact.id, clock())
        assert (state, version) == (None, 0)
        await contacts.save_state(conn, contact.id, STATE, version, clock())
    async with db.transaction() as conn:
        state, version = await contacts.lock_state(conn, contact.id, clock())
        assert (state, version) == (STATE, 1)
        await contacts.save_state(conn, contact.id, {"step": "done"}, version, clock())
    async with db.transaction() as conn:
        assert await contacts.lock_state(conn, contact.id, clock()) == ({"step": "done"}, 2)


async def test_save_state_with_stale_version_raises(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)
    async with db.transaction() as conn:
        _, version = await contacts.lock_state(conn, contact.id, clock())
        await contacts.save_state(conn, contact.id, STATE, version, clock())
    with pytest.raises(RuntimeError, match="changed concurrently"):
        async with db.transaction() as conn:
            await contacts.save_state(conn, contact.id, {"lost": "update"}, version, clock())
    async with db.transaction() as conn:
        assert await contacts.lock_state(conn, contact.id, clock()) == (STATE, 1)


@pytest.mark.parametrize("precreated", [False, True])
async def test_lock_state_serialises_transactions(
    db: Database, clock: FixedClock, precreated: bool
) -> None:
    contact = await make_contact(db, clock)
    if precreated:
        async with db.transaction() as conn:
            await contacts.lock_state(conn, contact.id, clock())
    order: list[str] = []

    async def first(release: asyncio.Event) -> tuple[Any, int]:
        async with db.transaction() as conn:
            loaded = await contacts.lock_state(conn, contact.id, clock())
            await contacts.save_state(conn, contact.id, {"by": "first"}, loaded[1], clock())
            order.append("first:done")
            await release.wait()
        order.append("first:committed")
        return loaded

    async def second() -> tuple[Any, int]:
        async with db.transaction() as conn:
            loaded = await contacts.lock_state(conn, contact.id, clock())
            order.append("second:locked")
            await contacts.save_state(conn, contact.id, {"by": "second"}, loaded[1], clock())
        return loaded

    got_first, got_second = await blocked_behind(db, first, second, order)
    assert got_first == (None, 0)
    assert got_second == ({"by": "first"}, 1)  # saw the first's committed state
    assert order.index("second:locked") > order.index("release")
    async with db.transaction() as conn:
        assert await contacts.lock_state(conn, contact.id, clock()) == ({"by": "second"}, 2)


# --- cases ---------------------------------------------------------------------------------


async def test_cases_insert_lookup_and_order(db: Database, clock: FixedClock) -> None:
    alice = await make_contact(db, clock, "alice")
    bob = await make_contact(db, clock, "bob")
    async with db.transaction() as conn:
        first = await cases.insert_case(
            conn, **case_values(alice.id, "XF20261123-0001", clock(), phone="13800000000")
        )
        clock.advance(hours=1)
        second = await cases.insert_case(conn, **case_values(alice.id, "XF20261123-0002", clock()))
        other = await cases.insert_case(
            conn, **case_values(bob.id, "XF20261123-0003", clock(), phone="13800000000")
        )
    async with db.read() as conn:
        assert await cases.tracking_no_taken(conn, "XF20261123-0001")
        assert not await cases.tracking_no_taken(conn, "XF20261123-9999")
        found = await cases.by_tracking_no(conn, "XF20261123-0001")
        assert await cases.by_tracking_no(conn, "XF20261123-9999") is None
        assert [c.id for c in await cases.for_contact(conn, alice.id)] == [second, first]
        assert [c.id for c in await cases.for_contact(conn, alice.id, limit=1)] == [second]
        assert [c.id for c in await cases.for_contact(conn, bob.id)] == [other]
        # by contact only
        assert await cases.count_earlier(conn, alice.id, "") == 2
        # by contact or phone: bob's own case plus alice's first (same phone)
        assert await cases.count_earlier(conn, bob.id, "13800000000") == 2
        # a new contact with a known phone
        assert await cases.count_earlier(conn, 999_999, "13800000000") == 2
        assert await cases.count_earlier(conn, 999_999, "") == 0
    assert found is not None
    assert found.id == first and found.contact_id == alice.id
    assert found.answers == {"诉求": "小区噪音扰民", "nested": {"list": [1, "二", None]}}
    assert found.flags == ["repeat"]
    assert found.submitted_at == datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    assert found.due_at == found.submitted_at + timedelta(days=15)
    assert (found.status, found.phone, found.region) == ("submitted", "13800000000", "haidian")


async def test_case_events_and_status(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)
    async with db.transaction() as conn:
        case_id = await cases.insert_case(conn, **case_values(contact.id, "XF-1", clock()))
        await cases.add_event(conn, case_id, at=clock(), actor="citizen", kind="submitted")
    async with db.read() as conn:
        assert (await cases.last_public_event(conn, case_id)).kind == "submitted"
    clock.advance(hours=2)
    async with db.transaction() as conn:
        await cases.add_event(
            conn, case_id, at=clock(), actor="staff1", kind="accepted", note="已受理"
        )
        await cases.add_event(
            conn,
            case_id,
            at=clock(),
            actor="staff1",
            kind="internal_note",
            note="内部备注",
            public=False,
            data={"assignee": "王五"},
        )
        await cases.set_status(conn, case_id, "accepted", clock())
    async with db.read() as conn:
        timeline = await cases.events(conn, case_id)
        last = await cases.last_public_event(conn, case_id)
        case = await cases.by_tracking_no(conn, "XF-1")
        assert await cases.last_public_event(conn, 999_999) is None
    assert [e.kind for e in timeline] == ["submitted", "accepted", "internal_note"]
    assert [e.public for e in timeline] == [True, True, False]
    assert timeline[2].data == {"assignee": "王五"}
    assert last.kind == "accepted" and last.note == "已受理" and last.at == clock()
    assert case is not None and case.status == "accepted" and case.updated_at == clock()
    assert case.submitted_at == clock() - timedelta(hours=2)


# --- datetimes -----------------------------------------------------------------------------


async def test_datetimes_round_trip_as_aware_utc(db: Database, clock: FixedClock) -> None:
    beijing = timezone(timedelta(hours=8))
    local = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=beijing)
    async with db.transaction() as conn:
        contact = await contacts.get_or_create(conn, Address("web", "tz"), local)
        await contacts.update_contact(conn, contact.id, last_inbound_at=local)
    async with db.read() as conn:
        stored = await contacts.get(conn, contact.id)
        created = (
            await conn.execute(
                select(contacts_table.c.created_at).where(contacts_table.c.id == contact.id)
            )
        ).scalar_one()
    for value in (stored.last_inbound_at, created):
        assert value == local
        assert value is not None and value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
        assert value == datetime(2026, 11, 23, 1, 30, 15, 123456, tzinfo=UTC)


async def test_datetime_comparisons_across_offsets(db: Database, clock: FixedClock) -> None:
    """A row due at 01:30 UTC is due at 09:30 Beijing time, not 8 hours off."""
    contact = await make_contact(db, clock)
    [row_id] = await enqueue(db, clock, contact)
    beijing = timezone(timedelta(hours=8))
    just_before = (clock() - timedelta(microseconds=1)).astimezone(beijing)
    assert await claim(db, "w1", just_before) == []
    got = await claim(db, "w1", clock().astimezone(beijing))
    assert [r.id for r in got] == [row_id]


async def test_naive_datetimes_are_refused(db: Database, clock: FixedClock) -> None:
    with pytest.raises(StatementError) as info:
        async with db.transaction() as conn:
            await contacts.get_or_create(conn, Address("web", "naive"), datetime(2026, 1, 1))
    assert isinstance(info.value.orig, ValueError)
    async with db.read() as conn:
        assert await contacts.find(conn, Address("web", "naive")) is None


# --- outbox --------------------------------------------------------------------------------


async def test_outbox_enqueue_and_claim_once(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)
    async with db.transaction() as conn:
        row_id = await rows.enqueue(
            conn,
            contact_id=contact.id,
            address=contact.address,
            reply=Reply("您的案件已受理", (Choice("status", "查询进度"),)),
            now=clock(),
            kind="push",
            template={"tracking_no": "XF-1"},
        )
    claimed = await claim(db, "w1", clock())
    assert len(claimed) == 1
    row = claimed[0]
    assert (row.id, row.contact_id, row.address, row.kind, row.attempts) == (
        row_id,
        contact.id,
        contact.address,
        "push",
        0,
    )
    message = row.message()
    assert message.reply == Reply("您的案件已受理", (Choice("status", "查询进度"),))
    assert message.template == {"tracking_no": "XF-1"}
    assert message.idempotency_key == f"xf-outbox-{row_id}"
    assert message.outbox_id == row_id
    stored = await outbox_row(db, row_id)
    assert stored.status == "sending" and stored.claimed_by == "w1"
    assert stored.lease_until == clock() + LEASE
    # the same worker, another worker, a little later: all get nothing while the lease holds
    assert await claim(db, "w1", clock()) == []
    clock.advance(seconds=59)
    assert await claim(db, "w2", clock()) == []


async def test_outbox_claim_respects_due_time_and_channels(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)
    [row_id] = await enqueue(db, clock, contact)
    assert await claim(db, "w1", clock() - timedelta(seconds=1)) == []
    assert await claim(db, "w1", clock(), channels=["telegram"]) == []
    assert [r.id for r in await claim(db, "w1", clock(), channels=["telegram", "web"])] == [row_id]


async def test_outbox_claim_limit_and_order(db: Database, clock: FixedClock) -> None:
    chats = [await make_contact(db, clock, f"c{i}") for i in range(5)]
    ids = [(await enqueue(db, clock, chat))[0] for chat in chats]
    first = await claim(db, "w1", clock(), limit=2)
    second = await claim(db, "w2", clock(), limit=10)
    assert [r.id for r in first] == ids[:2]
    assert [r.id for r in second] == ids[2:]


async def test_outbox_claim_takes_a_chat_in_order(db: Database, clock: FixedClock) -> None:
    alice = await make_contact(db, clock, "alice")
    bob = await make_contact(db, clock, "bob")
    a1, a2 = await enqueue(db, clock, alice, 2)
    [b1] = await enqueue(db, clock, bob)
    # a rate-limit wait pushed a2 behind b1's due time: still taken after a1, in id order
    await claim(db, "w0", clock(), limit=3)
    async with db.transaction() as conn:
        await rows.reschedule(conn, a1, "w0", clock() + timedelta(seconds=5), count_attempt=False)
        await rows.reschedule(conn, a2, "w0", clock() + timedelta(seconds=1), count_attempt=False)
        await rows.reschedule(conn, b1, "w0", clock() + timedelta(seconds=3), count_attempt=False)
    clock.advance(seconds=3)
    assert [r.id for r in await claim(db, "w1", clock())] == [b1]  # a2 waits for a1
    clock.advance(seconds=2)
    assert [r.id for r in await claim(db, "w1", clock(), limit=1)] == [a1]


async def test_outbox_expired_lease_is_reclaimed(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)
    [row_id] = await enqueue(db, clock, contact)
    assert len(await claim(db, "w1", clock())) == 1
    clock.advance(seconds=61)
    reclaimed = await claim(db, "w2", clock())
    assert [r.id for r in reclaimed] == [row_id]
    assert reclaimed[0].reclaimed is True  # the previous holder may have sent it
    stored = await outbox_row(db, row_id)
    assert stored.claimed_by == "w2" and stored.lease_until == clock() + LEASE
    # the old holder's late outcome is ignored; the new holder's counts
    async with db.transaction() as conn:
        await rows.mark_sent(conn, row_id, "w1", clock(), "late")
        await rows.mark_failed(conn, row_id, "w1", "late failure")
        await rows.reschedule(conn, row_id, "w1", clock() + timedelta(hours=1), error="late")
    stored = await outbox_row(db, row_id)
    assert (stored.status, stored.claimed_by, stored.attempts) == ("sending", "w2", 0)
    assert stored.last_error is None and stored.external_id is None
    async with db.transaction() as conn:
        await rows.mark_sent(conn, row_id, "w2", clock(), "platform-7")
    stored = await outbox_row(db, row_id)
    assert (stored.status, stored.attempts, stored.external_id) == ("sent", 1, "platform-7")
    assert stored.sent_at == clock() and stored.lease_until is None
    clock.advance(hours=1)
    assert await claim(db, "w3", clock()) == []  # sent rows are never claimed again


async def test_outbox_reschedule_and_mark_failed(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)
    retried, waited, failed = await enqueue(db, clock, contact, 3)
    await claim(db, "w1", clock())
    later = clock() + timedelta(seconds=30)
    async with db.transaction() as conn:
        await rows.reschedule(conn, retried, "w1", later, error="HTTP 502")
        await rows.reschedule(conn, waited, "w1", later, count_attempt=False)
        await rows.mark_failed(conn, failed, "w1", "x" * 5000)
    r, w, f = [await outbox_row(db, i) for i in (retried, waited, failed)]
    assert (r.status, r.attempts, r.last_error, r.next_attempt_at) == (
        "pending",
        1,
        "HTTP 502",
        later,
    )
    assert r.lease_until is None
    assert (w.status, w.attempts, w.last_error, w.next_attempt_at) == ("pending", 0, None, later)
    assert (f.status, f.attempts, len(f.last_error)) == ("failed", 1, 2000)
    assert await claim(db, "w2", clock()) == []
    clock.advance(seconds=30)
    again = await claim(db, "w2", clock())
    assert [(x.id, x.attempts, x.reclaimed) for x in again] == [
        (retried, 1, False),
        (waited, 0, False),
    ]


async def test_outbox_release(db: Database, clock: FixedClock) -> None:
    chats = [await make_contact(db, clock, f"c{i}") for i in range(3)]
    ids = [(await enqueue(db, clock, chat))[0] for chat in chats]
    await claim(db, "w1", clock(), limit=2)
    await claim(db, "w2", clock(), limit=1)
    async with db.transaction() as conn:
        await rows.release(conn, "w1")
    released = [await outbox_row(db, i) for i in ids]
    assert [r.status for r in released] == ["pending", "pending", "sending"]
    assert [r.lease_until for r in released[:2]] == [None, None]
    assert [r.id for r in await claim(db, "w3", clock())] == ids[:2]


async def test_outbox_delivered_queries_and_counts(db: Database, clock: FixedClock) -> None:
    alice = await make_contact(db, clock, "alice")
    bob = await make_contact(db, clock, "bob", channel="telegram")
    ids = await enqueue(db, clock, alice, 6)
    await enqueue(db, clock, bob, 2)
    await claim(db, "w1", clock(), channels=["web"])
    async with db.transaction() as conn:
        for i in ids[:4]:
            await rows.mark_sent(conn, i, "w1", clock())
        await rows.mark_failed(conn, ids[4], "w1", "blocked")
    async with db.read() as conn:
        delivered = await rows.delivered_to(conn, alice.id)
        after = await rows.delivered_to(conn, alice.id, after_id=ids[1])
        limited = await rows.delivered_to(conn, alice.id, limit=2)
        assert await rows.delivered_to(conn, bob.id) == []
        before_last_2 = await rows.delivered_before_last(conn, alice.id, 2)
        before_last_0 = await rows.delivered_before_last(conn, alice.id, 0)
        before_last_9 = await rows.delivered_before_last(conn, alice.id, 9)
        counts = await rows.counts_by_status(conn)
    assert [d.id for d in delivered] == ids[:4]
    assert delivered[0].payload == {"text": "消息 0", "choices": []}
    assert delivered[0].sent_at == clock()
    assert [d.id for d in after] == ids[2:4]
    assert [d.id for d in limited] == ids[:2]
    assert before_last_2 == ids[1]  # delivered_to(after_id=that) gives the last 2
    assert before_last_0 == ids[3]
    assert before_last_9 == 0
    assert counts == {
        ("web", "sent"): 4,
        ("web", "failed"): 1,
        ("web", "sending"): 1,
        ("telegram", "pending"): 2,
    }


async def test_outbox_later_rows_of_a_chat_wait_for_a_retried_one(
    db: Database, clock: FixedClock
) -> None:
    """A message enqueued while an earlier one of the same chat waits for a retry may not
    overtake it; other chats are not held up."""
    alice = await make_contact(db, clock, "alice")
    bob = await make_contact(db, clock, "bob")
    [first] = await enqueue(db, clock, alice)
    await claim(db, "w1", clock())
    async with db.transaction() as conn:
        await rows.reschedule(conn, first, "w1", clock() + timedelta(seconds=10), error="502")
    [second] = await enqueue(db, clock, alice)
    [other] = await enqueue(db, clock, bob)
    assert [r.id for r in await claim(db, "w1", clock())] == [other]
    clock.advance(seconds=10)
    assert [r.id for r in await claim(db, "w1", clock())] == [first, second]


async def test_outbox_rows_behind_a_leased_row_wait(db: Database, clock: FixedClock) -> None:
    alice = await make_contact(db, clock, "alice")
    [first] = await enqueue(db, clock, alice)
    assert [r.id for r in await claim(db, "w1", clock())] == [first]
    [second] = await enqueue(db, clock, alice)
    assert await claim(db, "w2", clock()) == []  # w1 may still be sending the first
    async with db.transaction() as conn:
        await rows.mark_sent(conn, first, "w1", clock())
    assert [r.id for r in await claim(db, "w2", clock())] == [second]


async def test_outbox_concurrent_claims_never_overlap(db: Database, clock: FixedClock) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite serialises writers; concurrency is a PostgreSQL property")
    contacts_ = [await make_contact(db, clock, f"c{i}") for i in range(20)]
    ids: list[int] = []
    for contact in contacts_:
        ids += await enqueue(db, clock, contact, 10)
    assert len(ids) == 200

    # 1. a claim held open while another worker claims: the second skips locked rows
    order: list[str] = []

    async def first(release: asyncio.Event) -> list[int]:
        async with db.transaction() as conn:
            got = await rows.claim_due(
                conn, worker="a", now=clock(), limit=120, lease=LEASE, channels=["web"]
            )
            order.append("first:done")
            await release.wait()
        return [r.id for r in got]

    release = asyncio.Event()
    first_task = asyncio.create_task(first(release))
    await asyncio.wait_for(_wait_for(order, "first:done"), WAIT_LIMIT)
    second = [r.id for r in await claim(db, "b", clock(), limit=200)]
    release.set()
    got_first = await first_task
    assert len(got_first) == 120
    assert set(got_first).isdisjoint(second)
    assert sorted(got_first + second) == sorted(ids)

    # 2. many workers racing over the same rows after the leases expired, each settling
    # what it claimed before claiming again (as the delivery worker does)
    clock.advance(seconds=61)
    claimed: dict[str, list[int]] = {f"w{i}": [] for i in range(4)}

    async def worker(name: str) -> None:
        while sum(len(got) for got in claimed.values()) < len(ids):
            got = await claim(db, name, clock(), limit=7)
            claimed[name] += [r.id for r in got]
            async with db.transaction() as conn:
                for r in got:
                    await rows.mark_sent(conn, r.id, name, clock())
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(*(worker(name) for name in claimed)), WAIT_LIMIT)
    everything = [i for got in claimed.values() for i in got]
    assert sorted(everything) == sorted(ids)  # union = all, and no row twice


# --- attachments and files -----------------------------------------------------------------


async def test_attachments_add_and_link(db: Database, clock: FixedClock) -> None:
    contact = await make_contact(db, clock)
    async with db.transaction() as conn:
        a1 = await attachments.add(
            conn,
            contact_id=contact.id,
            kind="image",
            media_ref="2026/11/abc-photo.jpg",
            now=clock(),
            mime="image/jpeg",
            filename="现场照片.jpg",
            size=12345,
        )
        a2 = await attachments.add(
            conn, contact_id=contact.id, kind="voice", media_ref="media-1", now=clock()
        )
        a3 = await attachments.add(
            conn, contact_id=contact.id, kind="file", media_ref="other", now=clock()
        )
        case_id = await cases.insert_case(conn, **case_values(contact.id, "XF-1", clock()))
        await attachments.link_to_case(conn, [a1, a2], case_id)
        await attachments.link_to_case(conn, [], case_id)  # no-op
    async with db.read() as conn:
        stored = {
            r.id: r
            for r in (
                await conn.execute(select(attachments_table).order_by(attachments_table.c.id))
            ).all()
        }
    assert [stored[i].case_id for i in (a1, a2, a3)] == [case_id, case_id, None]
    assert stored[a1].filename == "现场照片.jpg" and stored[a1].size == 12345
    assert stored[a2].mime == "" and stored[a2].created_at == clock()


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_save_stream_writes_file(tmp_path: Path, clock: FixedClock) -> None:
    key, size = await files.save_stream(
        tmp_path, "现场 照片.jpg", _chunks(b"abc", b"defg"), max_bytes=7, now=clock()
    )
    assert size == 7
    assert key.startswith("2026/11/")
    assert key.endswith("-现场_照片.jpg")
    assert (tmp_path / key).read_bytes() == b"abcdefg"
    assert (tmp_path / key).resolve().is_relative_to(tmp_path.resolve())


async def test_save_stream_too_large_leaves_no_file(tmp_path: Path, clock: FixedClock) -> None:
    with pytest.raises(files.TooLarge):
        await files.save_stream(
            tmp_path, "big.bin", _chunks(b"a" * 5, b"b" * 5), max_bytes=8, now=clock()
        )
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


async def test_save_stream_cleans_up_on_reader_error(tmp_path: Path, clock: FixedClock) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await files.save_stream(tmp_path, "x.txt", broken(), max_bytes=100, now=clock())
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32", "windows_system32"),
        ("/abs/path/报告.pdf", "报告.pdf"),
        ("a b;rm -rf $(x)`y`.txt", "a_b_rm_-rf_x_y_.txt"),
        ("..", "file"),
        ("", "file"),
        ("...hidden", "hidden"),
        ("name\x00.jpg", "name_.jpg"),
    ],
)
def test_safe_name(given: str, expected: str) -> None:
    assert files.safe_name(given) == expected


def test_safe_name_is_bounded_and_keeps_extension() -> None:
    name = files.safe_name("x" * 500 + ".jpg")
    assert len(name) == 80 and name.endswith(".jpg")


@pytest.mark.parametrize("given", ["../../etc/passwd", "..\\..\\x", "a/../../b", "\n..\t/"])
async def test_save_stream_never_escapes_root(
    tmp_path: Path, clock: FixedClock, given: str
) -> None:
    root = tmp_path / "attachments"
    key, _ = await files.save_stream(root, given, _chunks(b"1"), max_bytes=10, now=clock())
    assert ".." not in Path(key).parts
    assert (root / key).resolve().is_relative_to(root.resolve())
    assert len(Path(key).parts) == 3  # year / month / name
