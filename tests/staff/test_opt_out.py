"""A citizen's 退订 / 订阅 through intake: the contact's flag, queued broadcasts, preview counts."""

from __future__ import annotations

from sqlalchemy import select

from bot.messages import Address
from bot.staff.broadcasts import Audience, BroadcastService
from bot.storage import contacts
from bot.storage.db import Database
from bot.storage.tables import outbox
from tests.conftest import FixedClock
from tests.test_intake import make_intake, message

from .support import ADMIN, add_staff_rows, petition


async def _opted_out(db: Database, address: Address) -> bool:
    async with db.read() as conn:
        found = await contacts.find(conn, address)
    assert found is not None
    return found.broadcast_opt_out


async def test_unsubscribe_and_subscribe_by_message(db: Database, clock: FixedClock) -> None:
    now = clock()
    await add_staff_rows(db, now)
    await petition(db, now, "citizen-1", channel="telegram")
    await petition(db, now, "citizen-2", channel="telegram")
    address = Address("telegram", "citizen-1")
    service = BroadcastService(db, clock, approval_for_all=False)
    bid = await service.start(Audience("all"), "开放日通知", ADMIN)
    intake = make_intake(db, clock)

    result = await intake.handle(message(address, "退订"), via_outbox=True)
    assert "已为您退订群发通知" in result.replies[0].text
    assert await _opted_out(db, address)
    # the broadcast queued before is cancelled for this citizen only
    async with db.read() as conn:
        rows = await conn.execute(
            select(outbox.c.address, outbox.c.status)
            .where(outbox.c.broadcast_id == bid)
            .order_by(outbox.c.address)
        )
        assert [tuple(r) for r in rows] == [("citizen-1", "cancelled"), ("citizen-2", "pending")]
    assert await service.preview(Audience("all"), ADMIN) == {"telegram": 1}

    result = await intake.handle(message(address, "订阅"), via_outbox=True)
    assert "已为您恢复接收群发通知" in result.replies[0].text
    assert not await _opted_out(db, address)
    assert await service.preview(Audience("all"), ADMIN) == {"telegram": 2}


async def test_wechat_unsubscribe_event_makes_a_contact_unreachable(
    db: Database, clock: FixedClock
) -> None:
    now = clock()
    await add_staff_rows(db, now)
    await petition(db, now, "openid-1", channel="wechat")
    service = BroadcastService(db, clock, approval_for_all=False)
    assert await service.preview(Audience("all"), ADMIN) == {"wechat": 1}
    intake = make_intake(db, clock)
    event = message(Address("wechat", "openid-1"), "", event="unsubscribe")
    await intake.handle(event)
    assert await service.preview(Audience("all"), ADMIN) == {}
