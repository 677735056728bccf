"""Broadcasts: audiences, preview counts, one row per contact, progress, cancel (both databases)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.outbox import OutboxWorker
from bot.staff.access import PERMISSIONS, AccessDenied, Permission, Role
from bot.staff.broadcasts import Audience, BroadcastError, BroadcastService
from bot.storage.db import Database
from bot.storage.staff import list_audit
from bot.storage.tables import outbox
from tests.conftest import FixedClock
from tests.fakes import FakeChannel

from .support import ADMIN, HANDLER, SUPERVISOR, VIEWER, add_staff_rows, petition, set_contact


async def _seed(db: Database, clock: FixedClock) -> dict[str, str]:
    """Petitioners on three channels; returns tracking numbers by name."""
    now = clock()
    await add_staff_rows(db, now)
    numbers: dict[str, str] = {}
    # one citizen, three cases: still one message
    for i in range(3):
        _, numbers[f"li{i}"] = await petition(db, now, "li", channel="telegram")
    _, numbers["wang"] = await petition(
        db,
        now,
        "wang",
        channel="wechat",
        category="demolition",
        region="330102",
        department="330102-zjj",
    )
    _, numbers["zhao"] = await petition(
        db, now, "zhao", channel="web", status="accepted", department="330102-zjj"
    )
    _, numbers["gone"] = await petition(db, now, "gone", channel="wechat")
    await set_contact(db, "wechat", "gone", reachable=False)  # unsubscribed from the account
    _, numbers["quiet"] = await petition(db, now, "quiet", channel="telegram")
    await set_contact(db, "telegram", "quiet", broadcast_opt_out=True)  # sent 退订
    return numbers


def _service(db: Database, clock: FixedClock, **kw: object) -> BroadcastService:
    # "all" audiences here test delivery; their approval is tested in test_broadcast_approval
    kw.setdefault("approval_for_all", False)
    return BroadcastService(db, clock, **kw)  # type: ignore[arg-type]


async def _rows(db: Database, broadcast_id: int) -> list[tuple[str, str, str]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(outbox.c.channel, outbox.c.address, outbox.c.kind)
            .where(outbox.c.broadcast_id == broadcast_id)
            .order_by(outbox.c.channel, outbox.c.address)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_audience_validation() -> None:
    assert Audience("case", tracking_no="xf261121-048273-3").tracking_no == "XF2611210482733"
    with pytest.raises(BroadcastError, match="mistyped"):
        Audience("case", tracking_no="XF261121-048273-4")
    with pytest.raises(BroadcastError, match="tracking number"):
        Audience("linked")
    with pytest.raises(BroadcastError, match="at least one"):
        Audience("filter")
    with pytest.raises(BroadcastError, match="no filters"):
        Audience("all", regions=("330106",))
    with pytest.raises(BroadcastError, match="kind"):
        Audience.from_json({"kind": "everyone"})
    with pytest.raises(BroadcastError, match="unknown audience fields"):
        Audience.from_json({"kind": "all", "sql": "1=1"})
    with pytest.raises(BroadcastError, match="list of strings"):
        Audience.from_json({"kind": "filter", "regions": "330106"})
    aud = Audience.from_json({"kind": "filter", "regions": ["330106"], "statuses": ["accepted"]})
    assert Audience.from_json(aud.to_json()) == aud
    assert aud.to_json() == {
        "kind": "filter",
        "regions": ["330106"],
        "categories": [],
        "statuses": ["accepted"],
        "channels": [],
    }


async def test_preview_counts_contacts_per_channel(db: Database, clock: FixedClock) -> None:
    numbers = await _seed(db, clock)
    svc = _service(db, clock)
    # opted-out and unreachable contacts are not counted; li's three cases count once
    assert await svc.preview(Audience("all"), ADMIN) == {"telegram": 1, "wechat": 1, "web": 1}
    assert await svc.preview(Audience("case", tracking_no=numbers["li1"]), SUPERVISOR) == {
        "telegram": 1
    }
    assert await svc.preview(Audience("case", tracking_no=numbers["gone"]), ADMIN) == {}
    by_region = Audience("filter", regions=("330102",))
    assert await svc.preview(by_region, ADMIN) == {"wechat": 1}
    by_status = Audience("filter", statuses=("accepted",))
    assert await svc.preview(by_status, ADMIN) == {"web": 1}
    by_channel = Audience("filter", channels=("telegram",), categories=("labour",))
    assert await svc.preview(by_channel, ADMIN) == {"telegram": 1}
    with pytest.raises(BroadcastError, match="no case"):
        await svc.preview(Audience("case", tracking_no="XF2611210482733"), ADMIN)


async def test_enabled_channels_limit_recipients(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    svc = _service(db, clock, channels=["web", "telegram"])
    assert await svc.preview(Audience("all"), ADMIN) == {"telegram": 1, "web": 1}


async def test_linked_group(db: Database, clock: FixedClock) -> None:
    numbers = await _seed(db, clock)
    now = clock()
    primary_id, primary_no = await petition(db, now, "p1", channel="telegram")
    await petition(db, now, "p2", channel="wechat", linked_to=primary_id)
    _, member_no = await petition(db, now, "p3", channel="web", linked_to=primary_id)
    svc = _service(db, clock)
    expected = {"telegram": 1, "wechat": 1, "web": 1}
    assert await svc.preview(Audience("linked", tracking_no=primary_no), ADMIN) == expected
    # naming any case of the group reaches the whole group
    assert await svc.preview(Audience("linked", tracking_no=member_no), ADMIN) == expected
    assert await svc.preview(Audience("case", tracking_no=member_no), ADMIN) == {"web": 1}
    assert numbers  # the other petitioners are not in the group


async def test_permissions(db: Database, clock: FixedClock) -> None:
    numbers = await _seed(db, clock)
    svc = _service(db, clock)
    for member in (HANDLER, VIEWER):
        with pytest.raises(AccessDenied):
            await svc.preview(Audience("all"), member)
        with pytest.raises(AccessDenied):
            await svc.start(Audience("all"), "通知", member)
    bid = await svc.start(Audience("case", tracking_no=numbers["wang"]), "通知", ADMIN)
    with pytest.raises(AccessDenied):
        await svc.cancel(bid, VIEWER)


async def test_scope_of_a_department_member(
    db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a department-scoped role may broadcast, it reaches only its own cases' citizens."""
    numbers = await _seed(db, clock)
    granted = PERMISSIONS[Role.HANDLER] | {Permission.BROADCAST}
    monkeypatch.setitem(PERMISSIONS, Role.HANDLER, granted)
    svc = _service(db, clock)
    assert await svc.preview(Audience("all"), HANDLER) == {"telegram": 1}  # 330106-rsj only
    assert await svc.preview(Audience("filter", channels=("web", "telegram")), HANDLER) == {
        "telegram": 1
    }
    with pytest.raises(BroadcastError, match="no case"):  # out of scope: as if unknown
        await svc.preview(Audience("case", tracking_no=numbers["zhao"]), HANDLER)


async def test_start_writes_one_row_per_contact(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    svc = _service(db, clock)
    bid = await svc.start(Audience("all"), "  本周六信访局开放日，欢迎来访。 ", SUPERVISOR)
    rows = await _rows(db, bid)
    assert rows == [
        ("telegram", "li", "broadcast"),
        ("web", "zhao", "broadcast"),
        ("wechat", "wang", "broadcast"),
    ]
    async with db.read() as conn:
        payload = (
            (await conn.execute(select(outbox.c.payload).where(outbox.c.broadcast_id == bid)))
            .scalars()
            .first()
        )
        audit = await list_audit(conn, action="broadcast.send")
    assert payload == {"text": "本周六信访局开放日，欢迎来访。", "choices": []}
    assert [(a.actor, a.target, a.detail["total"]) for a in audit] == [  # type: ignore[index]
        ("boss", f"broadcast:{bid}", 3)
    ]
    progress = await svc.progress(bid)
    assert (progress.status, progress.total, progress.pending, progress.sent) == (
        "sending",
        3,
        3,
        0,
    )


async def test_text_checks_and_empty_audience(db: Database, clock: FixedClock) -> None:
    numbers = await _seed(db, clock)
    svc = _service(db, clock)
    for text in ("", "  \n "):
        with pytest.raises(BroadcastError, match="empty"):
            await svc.start(Audience("all"), text, ADMIN)
    with pytest.raises(BroadcastError, match="too long"):
        await svc.start(Audience("all"), "长" * 2001, ADMIN)
    with pytest.raises(BroadcastError, match="no reachable recipients"):
        await svc.start(Audience("case", tracking_no=numbers["quiet"]), "通知", ADMIN)
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(outbox))).scalar_one() == 0
    assert await svc.recent() == []


async def test_progress_until_done_with_the_worker(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    channels = {name: FakeChannel(name) for name in ("telegram", "wechat", "web")}
    channels["wechat"].fail_address("wang", retryable=False, reason="43004: unsubscribed")
    svc = _service(db, clock)
    bid = await svc.start(Audience("all"), "通知：系统维护", ADMIN)
    worker = OutboxWorker(db, channels, worker_id="w1", batch=2, clock=clock)
    seen = []
    for _ in range(10):
        handled = await worker.run_once()
        progress = await svc.progress(bid)
        seen.append((progress.sent + progress.failed, progress.pending))
        if handled == 0:
            break
    assert seen[0] == (2, 1)  # a batch of two went out, one still pending
    assert progress.status == "done" and progress.finished_at == clock()
    assert (progress.sent, progress.failed, progress.pending) == (2, 1, 0)
    assert [m.reply.text for m in channels["telegram"].sent] == ["通知：系统维护"]
    assert channels["telegram"].sent[0].kind == "broadcast"
    listed = await svc.recent()
    assert [(p.id, p.status, p.sent) for p in listed] == [(bid, "done", 2)]


async def test_cancel_stops_pending_rows(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    channel = FakeChannel("telegram")
    svc = _service(db, clock)
    bid = await svc.start(Audience("all"), "通知", ADMIN)
    # the worker claims telegram's row and is still sending it when the cancel comes
    channel.gate = asyncio.Event()
    worker = OutboxWorker(db, {"telegram": channel}, worker_id="w1", clock=clock)
    running = asyncio.create_task(worker.run_once())
    await channel.entered.wait()
    progress = await svc.cancel(bid, SUPERVISOR)
    assert (progress.status, progress.cancelled, progress.pending) == ("cancelled", 2, 1)
    channel.gate.set()
    await running
    progress = await svc.progress(bid)
    assert (progress.status, progress.sent, progress.cancelled, progress.pending) == (
        "cancelled",
        1,
        2,
        0,
    )
    # cancelled rows are never claimed again
    web = FakeChannel("web")
    assert await OutboxWorker(db, {"web": web}, worker_id="w2", clock=clock).run_once() == 0
    with pytest.raises(BroadcastError, match="already cancelled"):
        await svc.cancel(bid, SUPERVISOR)
    async with db.read() as conn:
        audit = await list_audit(conn, action="broadcast.cancel")
    assert [(a.actor, a.detail) for a in audit] == [("boss", {"cancelled": 2})]


async def test_interactive_rows_go_before_broadcast_rows(db: Database, clock: FixedClock) -> None:
    """A large broadcast queued first must not delay a citizen's reply or case push."""
    from bot.messages import Address, Reply
    from bot.storage import outbox as outbox_store

    now = clock()
    await add_staff_rows(db, now)
    for i in range(6):
        await petition(db, now, f"c{i}", channel="telegram")
    svc = _service(db, clock)
    bid = await svc.start(Audience("all"), "通知", ADMIN)
    async with db.transaction() as conn:
        contact_id = (
            await conn.execute(
                select(outbox.c.contact_id).where(
                    outbox.c.address == "c5", outbox.c.broadcast_id == bid
                )
            )
        ).scalar_one()
        reply_id = await outbox_store.enqueue(
            conn,
            contact_id=contact_id,
            address=Address("telegram", "c5"),
            reply=Reply("您的信访事项已受理"),
            now=now,
            kind="push",
        )
    channel = FakeChannel("telegram")
    worker = OutboxWorker(db, {"telegram": channel}, worker_id="w1", batch=2, clock=clock)
    await worker.run_once()  # a batch of two: the push, though newest, and the oldest broadcast
    assert sorted(channel.sent_ids()) == [1, reply_id]
    # a broadcast row waiting for a retry does not hold back the same chat's reply
    async with db.transaction() as conn:
        await conn.execute(
            outbox.update()
            .where(outbox.c.broadcast_id == bid, outbox.c.status == "pending")
            .values(next_attempt_at=now.replace(year=now.year + 1))
        )
        later = await outbox_store.enqueue(
            conn,
            contact_id=contact_id,
            address=Address("telegram", "c5"),
            reply=Reply("回复"),
            now=now,
            kind="reply",
        )
    await worker.run_once()
    assert channel.sent[-1].outbox_id == later
