"""Broadcasts as offices asked for them: who is left out and why, a second account's approval
for a broadcast to everyone, scheduled sending on a fixed clock, cancelled counts
(both databases)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.broadcast_scheduler import run as run_scheduler
from bot.staff.broadcasts import ApprovalRefused, Audience, BroadcastError, BroadcastService
from bot.storage.db import Database
from bot.storage.staff import list_audit
from bot.storage.tables import outbox
from tests.conftest import FixedClock

from .support import ADMIN, SUPERVISOR, add_staff_rows, petition, set_contact

ALL = Audience("all")
XIHU = Audience("filter", regions=("330106",))


async def _seed(db: Database, clock: FixedClock) -> None:
    """Six petitioners of Xihu: three reachable (web, telegram, wechat), one who sent 退订,
    one who unfollowed the WeChat account, one on WeChat who sent 退订 as well."""
    now = clock()
    await add_staff_rows(db, now)
    for user, channel in (("a", "web"), ("b", "telegram"), ("c", "wechat")):
        await petition(db, now, user, channel=channel)
    await petition(db, now, "quiet", channel="telegram")
    await set_contact(db, "telegram", "quiet", broadcast_opt_out=True)
    await petition(db, now, "gone", channel="wechat")
    await set_contact(db, "wechat", "gone", reachable=False)
    await petition(db, now, "both", channel="wechat")
    await set_contact(db, "wechat", "both", reachable=False, broadcast_opt_out=True)


async def _queued(db: Database, broadcast_id: int) -> int:
    async with db.read() as conn:
        return int(
            await conn.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.broadcast_id == broadcast_id)
            )
            or 0
        )


async def test_preview_counts_who_is_left_out_and_why(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    every = BroadcastService(db, clock)
    assert await every.preview(XIHU, ADMIN) == {"telegram": 1, "web": 1, "wechat": 1}
    # each contact counts once, for the first reason: unreachable before unsubscribed
    assert await every.left_out(XIHU, ADMIN) == {
        "channel_off": 0,
        "unreachable": 2,
        "unsubscribed": 1,
    }
    # WeChat not enabled in this deployment: its contacts are left out for that reason
    no_wechat = BroadcastService(db, clock, channels=["web", "telegram"])
    assert await no_wechat.left_out(ALL, ADMIN) == {
        "channel_off": 3,
        "unreachable": 0,
        "unsubscribed": 1,
    }
    # an audience that matches nobody leaves nobody out
    nobody = Audience("filter", regions=("330102",))
    assert await every.left_out(nobody, ADMIN) == {
        "channel_off": 0,
        "unreachable": 0,
        "unsubscribed": 0,
    }


async def test_a_broadcast_to_everyone_waits_for_a_second_account(
    db: Database, clock: FixedClock
) -> None:
    await _seed(db, clock)
    woken: list[int] = []
    svc = BroadcastService(db, clock, on_enqueued=lambda: woken.append(1))
    assert svc.needs_approval(ALL) and not svc.needs_approval(XIHU)
    bid = await svc.start(ALL, "开放日通知", SUPERVISOR)
    held = await svc.progress(bid)
    assert held.status == "awaiting" and not held.finished
    assert await _queued(db, bid) == 0 and woken == []
    assert [p.id for p in await svc.awaiting_approval()] == [bid]
    # the same account cannot approve (nor reject) its own broadcast
    with pytest.raises(ApprovalRefused):
        await svc.approve(bid, SUPERVISOR)
    with pytest.raises(ApprovalRefused):
        await svc.reject(bid, SUPERVISOR)
    assert (await svc.progress(bid)).status == "awaiting"
    approved = await svc.approve(bid, ADMIN)
    assert approved.status == "sending" and approved.decided_by == ADMIN.login
    assert approved.total == 3 and await _queued(db, bid) == 3 and woken == [1]
    with pytest.raises(BroadcastError, match="not awaiting"):
        await svc.approve(bid, ADMIN)
    async with db.read() as conn:
        requested = await list_audit(conn, action="broadcast.request")
        approvals = await list_audit(conn, action="broadcast.approve")
    assert [r.actor for r in requested] == [SUPERVISOR.login]
    assert [r.actor for r in approvals] == [ADMIN.login]
    # a rejected one is never sent
    other = await svc.start(ALL, "第二条", ADMIN)
    rejected = await svc.reject(other, SUPERVISOR)
    assert rejected.status == "rejected" and rejected.finished and await _queued(db, other) == 0


async def test_approval_can_be_turned_off(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    svc = BroadcastService(db, clock, approval_for_all=False)
    bid = await svc.start(ALL, "通知", SUPERVISOR)
    assert (await svc.progress(bid)).status == "sending" and await _queued(db, bid) == 3


async def test_scheduled_broadcast_is_queued_at_its_time(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    svc = BroadcastService(db, clock)
    with pytest.raises(BroadcastError, match="passed"):
        await svc.start(XIHU, "通知", ADMIN, send_at=clock() - timedelta(minutes=1))
    at = clock() + timedelta(hours=2)
    bid = await svc.start(XIHU, "明早停水", ADMIN, send_at=at)
    progress = await svc.progress(bid)
    assert progress.status == "scheduled" and progress.scheduled_at == at
    assert await svc.release_due() == [] and await _queued(db, bid) == 0
    clock.advance(hours=1, minutes=59)
    assert await svc.release_due() == []
    # a citizen who unsubscribes before the time is left out: recipients are chosen then
    await set_contact(db, "web", "a", broadcast_opt_out=True)
    clock.advance(minutes=1)
    assert await svc.release_due() == [bid]
    assert await svc.release_due() == [], "released once"
    released = await svc.progress(bid)
    assert released.status == "sending" and released.total == 2 and await _queued(db, bid) == 2


async def test_approved_broadcast_with_a_time_waits_for_it(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    svc = BroadcastService(db, clock)
    bid = await svc.start(ALL, "节日问候", SUPERVISOR, send_at=clock() + timedelta(days=1))
    assert (await svc.progress(bid)).status == "awaiting"
    clock.advance(days=2)
    assert await svc.release_due() == [], "never released before approval"
    # approved after its time: queued at once
    assert (await svc.approve(bid, ADMIN)).status == "sending"
    later = await svc.start(ALL, "下周通知", SUPERVISOR, send_at=clock() + timedelta(days=7))
    assert (await svc.approve(later, ADMIN)).status == "scheduled"
    clock.advance(days=7)
    assert await svc.release_due() == [later]


async def test_the_scheduler_loop_releases_due_broadcasts(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    released = asyncio.Event()
    svc = BroadcastService(db, clock, on_enqueued=released.set)
    bid = await svc.start(XIHU, "通知", ADMIN, send_at=clock() + timedelta(minutes=5))
    clock.advance(minutes=5)
    stop = asyncio.Event()
    loop = asyncio.create_task(run_scheduler(svc, stop, every=timedelta(hours=1)))
    await released.wait()  # the first round releases it and wakes the outbox worker
    stop.set()
    await loop
    assert (await svc.progress(bid)).status == "sending" and await _queued(db, bid) == 3


async def test_cancelled_messages_are_counted(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    svc = BroadcastService(db, clock)
    bid = await svc.start(XIHU, "通知", ADMIN)
    cancelled = await svc.cancel(bid, SUPERVISOR)
    assert cancelled.status == "cancelled" and cancelled.cancelled == 3
    listed = {p.id: p for p in await svc.recent()}
    assert listed[bid].cancelled == 3 and listed[bid].sent == 0
    # a scheduled broadcast cancelled before its time is never released
    later = await svc.start(XIHU, "定时", ADMIN, send_at=clock() + timedelta(hours=1))
    assert (await svc.cancel(later, ADMIN)).status == "cancelled"
    clock.advance(hours=2)
    assert await svc.release_due() == [] and await _queued(db, later) == 0
