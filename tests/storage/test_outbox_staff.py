"""Problem deliveries for staff (failed, stuck), retry and cancel, on both databases."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.deliveries import Deliveries, UnknownCase
from bot.domain.tracking import format_tracking_no, new_tracking_no
from bot.messages import Address, Reply
from bot.outbox import OutboxWorker, RetryPolicy
from bot.storage import cases, contacts
from bot.storage import outbox as rows
from bot.storage.contacts import Contact
from bot.storage.db import Database
from bot.storage.tables import audit_log
from bot.storage.tables import outbox as outbox_table
from tests.conftest import FixedClock
from tests.fakes import FakeChannel

from .test_contract import case_values

LEASE = timedelta(seconds=60)
NUMBER = new_tracking_no(date(2026, 11, 23))
OTHER = new_tracking_no(date(2026, 11, 22))


async def _contact(db: Database, clock: FixedClock, name: str, channel: str = "fake") -> Contact:
    async with db.transaction() as conn:
        return await contacts.get_or_create(conn, Address(channel, name), clock())


async def _enqueue(
    db: Database, clock: FixedClock, contact: Contact, n: int = 1, **kw: Any
) -> list[int]:
    async with db.transaction() as conn:
        return [
            await rows.enqueue(
                conn,
                contact_id=contact.id,
                address=contact.address,
                reply=Reply(f"消息 {i}"),
                now=clock(),
                **kw,
            )
            for i in range(n)
        ]


async def _row(db: Database, row_id: int) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(outbox_table).where(outbox_table.c.id == row_id))).one()


async def _set(db: Database, row_id: int, **values: Any) -> None:
    async with db.transaction() as conn:
        await conn.execute(update(outbox_table).where(outbox_table.c.id == row_id).values(**values))


@pytest.fixture
async def scene(db: Database, clock: FixedClock) -> dict[str, int]:
    """One row in each state that matters; returns their ids by name."""
    alice = await _contact(db, clock, "alice")
    bob = await _contact(db, clock, "bob", channel="telegram")
    async with db.transaction() as conn:
        case_id = await cases.insert_case(conn, **case_values(alice.id, NUMBER, clock()))
    ids: dict[str, int] = {}
    (
        ids["failed"],
        ids["lease_expired"],
        ids["lease_live"],
        ids["retry_overdue"],
        ids["retry_waiting"],
        ids["pending_new"],
        ids["sent"],
    ) = await _enqueue(db, clock, alice, 7, case_id=case_id)
    [ids["failed_bob"]] = await _enqueue(db, clock, bob, kind="reply")
    now = clock()
    await _set(db, ids["failed"], status="failed", attempts=3, last_error="400 bad")
    await _set(db, ids["failed_bob"], status="failed", attempts=1, last_error="403 blocked")
    await _set(
        db, ids["lease_expired"], status="sending", lease_until=now - LEASE, claimed_by="dead"
    )
    await _set(db, ids["lease_live"], status="sending", lease_until=now + LEASE, claimed_by="w1")
    await _set(db, ids["retry_overdue"], attempts=2, next_attempt_at=now - timedelta(hours=1))
    await _set(db, ids["retry_waiting"], attempts=1, next_attempt_at=now + timedelta(minutes=1))
    await _set(db, ids["sent"], status="sent", attempts=1, sent_at=now)
    async with db.transaction() as conn:
        await contacts.update_contact(conn, bob.id, reachable=False)
    ids["case_id"] = case_id
    return ids


async def test_problem_list_filters_pages_and_counts(
    db: Database, clock: FixedClock, scene: dict[str, int]
) -> None:
    desk = Deliveries(db, clock=clock, stuck_after=timedelta(minutes=15))
    page = await desk.problems()
    assert [d.id for d in page.items] == sorted(
        [scene["failed_bob"], scene["retry_overdue"], scene["lease_expired"], scene["failed"]],
        reverse=True,
    )
    assert page.total == 4
    by_id = {d.id: d for d in page.items}
    assert by_id[scene["failed"]].problem == "failed"
    assert by_id[scene["lease_expired"]].problem == "stuck"
    assert by_id[scene["retry_overdue"]].problem == "stuck"
    assert by_id[scene["failed"]].tracking_no == NUMBER
    assert by_id[scene["failed"]].last_error == "400 bad"
    assert by_id[scene["failed_bob"]].reachable is False
    assert by_id[scene["failed_bob"]].tracking_no == ""

    stuck = await desk.problems(problem="stuck")
    assert {d.id for d in stuck.items} == {scene["lease_expired"], scene["retry_overdue"]}
    assert [d.id for d in (await desk.problems(channel="telegram")).items] == [scene["failed_bob"]]
    assert [d.id for d in (await desk.problems(kind="reply")).items] == [scene["failed_bob"]]
    on_case = await desk.problems(tracking_no=format_tracking_no(NUMBER))
    assert on_case.total == 3 and scene["failed_bob"] not in {d.id for d in on_case.items}
    second = await desk.problems(limit=2, offset=2)
    assert (len(second.items), second.total) == (2, 4)
    assert [d.id for d in second.items] == [d.id for d in page.items[2:]]
    assert await desk.counts() == {("fake", "failed"): 1, ("fake", "stuck"): 2,
                                   ("telegram", "failed"): 1}  # fmt: skip

    # "stuck" for a retried row means overdue by more than the configured amount
    patient = Deliveries(db, clock=clock, stuck_after=timedelta(hours=2))
    assert (await patient.problems(problem="stuck")).total == 1
    with pytest.raises(UnknownCase):
        await desk.problems(tracking_no=OTHER)
    with pytest.raises(ValueError):
        await desk.problems(problem="sent")


async def test_retry_puts_rows_back_due_now_and_keeps_the_already_sent_check(
    db: Database, clock: FixedClock, scene: dict[str, int]
) -> None:
    desk = Deliveries(db, clock=clock)
    clock.advance(seconds=30)
    wanted = [scene[k] for k in ("failed", "lease_expired", "retry_waiting", "lease_live", "sent")]
    done = await desk.retry([*wanted, 9999], actor="staff:li")
    assert [(o.id, o.done, o.status) for o in done] == sorted(
        [
            (scene["failed"], True, "failed"),
            (scene["lease_expired"], True, "sending"),
            (scene["retry_waiting"], True, "pending"),
            (scene["lease_live"], False, "sending"),  # a worker may be sending it right now
            (scene["sent"], False, "sent"),
            (9999, False, ""),
        ]
    )
    for name in ("failed", "lease_expired", "retry_waiting"):
        stored = await _row(db, scene[name])
        assert (stored.status, stored.attempts, stored.next_attempt_at, stored.lease_until) == (
            "pending",
            1,
            clock(),
            None,
        )
    # the worker asks the platform first: a failed send may have arrived after all
    clock.advance(seconds=LEASE.total_seconds())  # (the chat waits for the leased row)
    fake = FakeChannel(remember_sends=True)
    fake.report_already_sent(f"xf-outbox-{scene['failed']}")
    w = OutboxWorker(db, {"fake": fake}, worker_id="w2", clock=clock, policy=RetryPolicy())
    await w.run_once()
    assert f"xf-outbox-{scene['failed']}" in fake.already_sent_calls
    assert scene["failed"] not in fake.sent_ids()
    assert (await _row(db, scene["failed"])).status == "sent"


async def test_retry_all_failed_skips_unreachable_citizens(
    db: Database, clock: FixedClock, scene: dict[str, int]
) -> None:
    desk = Deliveries(db, clock=clock)
    done, skipped = await desk.retry_all_failed(actor="staff:li")
    assert [o.id for o in done] == [scene["failed"]] and skipped == 1
    assert (await _row(db, scene["failed_bob"])).status == "failed"
    done, skipped = await desk.retry_all_failed(actor="staff:li", channel="telegram")
    assert (done, skipped) == ([], 1)


async def test_cancel_pending_and_failed_only(
    db: Database, clock: FixedClock, scene: dict[str, int]
) -> None:
    desk = Deliveries(db, clock=clock)
    names = ("failed", "pending_new", "retry_waiting", "lease_live", "sent")
    done = await desk.cancel([scene[n] for n in names], actor="staff:li")
    assert {o.id: o.done for o in done} == {
        scene["failed"]: True,
        scene["pending_new"]: True,
        scene["retry_waiting"]: True,
        scene["lease_live"]: False,
        scene["sent"]: False,
    }
    assert (await _row(db, scene["pending_new"])).status == "cancelled"
    fake = FakeChannel()
    clock.advance(hours=2)
    w = OutboxWorker(db, {"fake": fake}, worker_id="w2", clock=clock)
    await w.run_once()
    cancelled = {scene[n] for n in ("failed", "pending_new", "retry_waiting")}
    assert cancelled.isdisjoint(m.outbox_id for m in fake.calls)
    with pytest.raises(ValueError):
        await desk.cancel([scene["sent"]], actor=" ")


async def test_scheduled_rows_wait_then_join_the_tail_of_their_chat(
    db: Database, clock: FixedClock
) -> None:
    alice = await _contact(db, clock, "alice")
    async with db.transaction() as conn:
        later = await rows.schedule(
            conn,
            contact_id=alice.id,
            address=alice.address,
            reply=Reply("回访"),
            at=clock() + timedelta(days=7),
            now=clock(),
            kind="followup",
            case_id=None,
        )
    first = await _enqueue(db, clock, alice, 2)
    async with db.transaction() as conn:
        got = await rows.claim_due(
            conn, worker="w1", now=clock(), limit=10, lease=LEASE, channels=["fake"]
        )
        assert [r.id for r in got] == first  # a scheduled row does not hold its chat back
        for r in got:
            await rows.mark_sent(conn, r.id, "w1", clock())
    clock.advance(days=7)
    async with db.transaction() as conn:
        [due] = await rows.claim_due(
            conn, worker="w1", now=clock(), limit=10, lease=LEASE, channels=["fake"]
        )
    # it became a new row at the tail, so readers following the chat by id see it
    assert due.id > max(first) and due.kind == "followup" and due.payload["text"] == "回访"
    async with db.read() as conn:
        gone = (
            await conn.execute(select(outbox_table.c.id).where(outbox_table.c.id == later))
        ).all()
    assert gone == []


async def test_each_row_has_a_state_staff_read(
    db: Database, clock: FixedClock, scene: dict[str, int]
) -> None:
    desk = Deliveries(db, clock=clock, stuck_after=timedelta(minutes=15))
    names = ("failed", "lease_expired", "lease_live", "retry_overdue", "retry_waiting")
    names += ("pending_new", "sent")
    async with db.read() as conn:
        found = await rows.get_deliveries(conn, [scene[n] for n in names])
    assert {n: desk.state(found[scene[n]]) for n in names} == {
        "failed": "failed",
        "lease_expired": "stuck",
        "lease_live": "sending",
        "retry_overdue": "stuck",
        "retry_waiting": "retrying",
        "pending_new": "queued",
        "sent": "sent",
    }
    notice = desk.notice(found[scene["lease_expired"]])
    assert (notice.notice, notice.reason.code) == ("push", "lease_expired")


async def test_retry_and_cancel_are_audited_with_the_actor(
    db: Database, clock: FixedClock, scene: dict[str, int]
) -> None:
    desk = Deliveries(db, clock=clock)
    woken: list[bool] = []
    desk.on_requeued = lambda: woken.append(True)
    await desk.retry([scene["failed"], scene["sent"]], actor="staff:li")
    await desk.cancel([scene["pending_new"]], actor="duban", staff_id=None, ip="10.0.0.9", via="x")
    await desk.retry_all_failed(actor="staff:wang")  # nothing left but the unreachable one
    assert woken == [True]  # only a retry that changed something wakes the worker
    async with db.read() as conn:
        entries = (await conn.execute(select(audit_log).order_by(audit_log.c.id))).all()
    assert [(e.actor, e.action, e.target, e.case_id, e.ip, e.detail) for e in entries] == [
        (
            "staff:li",
            "outbox.retry",
            f"outbox:{scene['failed']}",
            scene["case_id"],
            "",
            {"channel": "fake", "previous_status": "failed"},
        ),
        (
            "duban",
            "outbox.cancel",
            f"outbox:{scene['pending_new']}",
            scene["case_id"],
            "10.0.0.9",
            {"channel": "fake", "previous_status": "pending", "via": "x"},
        ),
    ]


async def test_a_scheduled_notice_keeps_its_event_when_it_becomes_due(
    db: Database, clock: FixedClock
) -> None:
    alice = await _contact(db, clock, "alice")
    async with db.transaction() as conn:
        case_id = await cases.insert_case(conn, **case_values(alice.id, NUMBER, clock()))
        event = await cases.add_event(conn, case_id, at=clock(), actor="staff:li", kind="answer")
        await rows.schedule(
            conn,
            contact_id=alice.id,
            address=alice.address,
            reply=Reply("回访"),
            at=clock() + timedelta(days=7),
            now=clock(),
            kind="followup",
            case_id=case_id,
            template={"key": "followup.ask", "event_id": event},
        )
    desk = Deliveries(db, clock=clock)
    [waiting] = (await desk.of_case(case_id, alice.id))[event]
    assert (waiting.state, waiting.notice, waiting.delivery.text) == (
        "scheduled",
        "followup",
        "回访",
    )
    clock.advance(days=7)
    async with db.transaction() as conn:
        await rows.claim_due(
            conn, worker="w1", now=clock(), limit=5, lease=LEASE, channels=["fake"]
        )
    [due] = (await desk.of_case(case_id, alice.id))[event]  # a new row, the same event
    assert due.delivery.id != waiting.delivery.id and due.state == "sending"
    assert await desk.of_case(case_id, alice.id + 1) == {}
