"""SMS through the outbox: spacing per number, channels that are off, receipts, TD, and
the notices routed to SMS (WeChat's last fallback, web-chat copies) against the fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import build_services, create_app
from bot.delivery_reasons import explain
from bot.messages import Address, Reply
from bot.notice_routing import COPY, FALLBACK, route
from bot.services import Services
from bot.staff.broadcasts import Audience
from bot.storage import cases, contacts, sms_receipts
from bot.storage import outbox as rows
from bot.storage.db import Database
from bot.storage.tables import case_events, outbox
from tests.channels.sms.conftest import CALLBACK_TOKEN, MOBILE
from tests.fakes_sms import FakeSms
from tests.fakes_wechat import FakeWeChat
from tests.staff.support import ADMIN, petition

OPENID = "oWeChatCitizen0000000000001"


@pytest.fixture
async def wechat() -> AsyncIterator[FakeWeChat]:
    server = FakeWeChat()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def services(make_settings: Any, wechat: FakeWeChat) -> AsyncIterator[Services]:
    built = build_services(
        make_settings(
            wechat_token="wechat-token",
            wechat_app_id=wechat.app_id,
            wechat_app_secret=wechat.app_secret,
            wechat_api_base=wechat.url,
        )
    )
    yield built
    for name in ("sms", "wechat"):
        await built.channels[name].api.close()  # type: ignore[attr-defined]


async def all_rows(db: Database) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(select(outbox).order_by(outbox.c.id))).all())


async def events(db: Database, case_id: int, kind: str) -> list[Any]:
    async with db.read() as conn:
        query = select(case_events).where(
            case_events.c.case_id == case_id, case_events.c.kind == kind
        )
        return list((await conn.execute(query)).all())


@pytest.mark.parametrize(
    ("channel", "kind", "delivered", "expected"),
    [
        ("wechat", "push", False, FALLBACK),
        ("wechat", "followup", False, FALLBACK),
        ("wechat", "push", True, ""),
        ("wechat", "reply", False, ""),  # a dialog reply is no notice
        ("wechat", "broadcast", False, ""),
        ("web", "push", True, COPY),
        ("web", "reply", True, ""),
        ("telegram", "push", False, ""),
        ("sms", "push", False, ""),  # never from SMS to SMS
    ],
)
def test_routing_table(channel: str, kind: str, delivered: bool, expected: str) -> None:
    assert route(channel, kind, delivered=delivered) == expected


async def test_a_wechat_notice_that_fails_for_good_goes_by_sms_once(
    services: Services, fake: FakeSms, wechat: FakeWeChat
) -> None:
    db = services.db
    now = services.casework.lifecycle.clock()
    case_id, number = await petition(db, now, OPENID, channel="wechat", phone="13800138000")
    # the citizen last wrote 60 days ago: 45015, and no template is configured
    await services.casework.lifecycle.accept(number, actor="root")
    worker = services.worker()
    await worker.run_once()  # the WeChat push fails for good, its SMS is queued with it
    first = await all_rows(db)
    assert [(r.channel, r.status) for r in first] == [("wechat", "failed"), ("sms", "pending")]
    reason = explain(channel="wechat", status="failed", problem="failed", error=first[0].last_error)
    assert reason.code == "wechat_out_of_window"
    await worker.run_once()
    [sent] = fake.sent
    assert sent.phone == MOBILE and sent.template_id == "2000001" and sent.params[0] == number
    assert (await all_rows(db))[1].status == "sent"
    [event] = await events(db, case_id, FALLBACK)
    assert event.data == {"outbox_id": first[0].id, "sms_outbox_id": first[1].id, "from": "wechat"}
    assert event.public is False
    # the case's delivery states show the notice's two routes under its timeline event
    async with db.read() as conn:
        case = await cases.by_id(conn, case_id)
    assert case is not None
    notices = await services.deliveries.of_case(case_id, case.contact_id)
    [(_, routes)] = notices.items()
    assert [(n.delivery.channel, n.state) for n in routes] == [
        ("wechat", "failed"),
        ("sms", "sent"),
    ]
    # staff retry the WeChat row and it fails again: no second SMS for the same notice
    async with db.transaction() as conn:
        await rows.retry(conn, [first[0].id], now=now)
    await worker.run_once()
    assert [r.channel for r in await all_rows(db)] == ["wechat", "sms"]
    assert len(fake.sent) == 1


async def test_an_unfollowed_citizen_without_a_mobile_stays_failed(
    services: Services, fake: FakeSms, wechat: FakeWeChat
) -> None:
    db = services.db
    now = services.casework.lifecycle.clock()
    wechat.unsubscribed.add(OPENID)
    _, number = await petition(db, now, OPENID, channel="wechat", phone="057187654321")
    await services.casework.lifecycle.accept(number, actor="root")
    await services.worker().run_once()
    [row] = await all_rows(db)
    assert (row.channel, row.status) == ("wechat", "failed")  # a landline gets no SMS
    assert not fake.sent


async def test_web_chat_notices_also_go_by_sms(services: Services, fake: FakeSms) -> None:
    db = services.db
    now = services.casework.lifecycle.clock()
    case_id, number = await petition(db, now, "web-cookie-hash", channel="web")
    await services.casework.lifecycle.accept(number, actor="root")
    worker = services.worker()
    await worker.run_once()
    await worker.run_once()
    assert [(r.channel, r.status) for r in await all_rows(db)] == [
        ("web", "sent"),
        ("sms", "sent"),
    ]
    assert fake.sent[0].params[0] == number
    assert len(await events(db, case_id, COPY)) == 1


async def test_one_numbers_notices_are_spaced_thirty_seconds(
    services: Services, fake: FakeSms
) -> None:
    db = services.db
    now = services.casework.lifecycle.clock()
    _, first = await petition(db, now, MOBILE, channel="sms")
    _, second = await petition(db, now, MOBILE, channel="sms")
    await services.casework.lifecycle.accept(first, actor="root")
    await services.casework.lifecycle.accept(second, actor="root")
    await services.worker().run_once()
    a, b = await all_rows(db)
    assert (a.status, b.status) == ("sent", "pending")
    assert b.next_attempt_at - a.sent_at >= timedelta(seconds=25)  # back to the table
    assert len(fake.sent) == 1 and fake.requests == 1  # Tencent never saw the second


async def test_throttled_by_tencent_retries_after_the_limit(
    services: Services, fake: FakeSms
) -> None:
    db = services.db
    now = services.casework.lifecycle.clock()
    _, number = await petition(db, now, MOBILE, channel="sms")
    await services.casework.lifecycle.accept(number, actor="root")
    fake.fail_next("LimitExceeded.PhoneNumberThirtySecondLimit")
    worker = services.worker()
    await worker.run_once()
    [row] = await all_rows(db)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "PhoneNumberThirtySecondLimit" in row.last_error
    assert row.next_attempt_at - worker.clock() >= timedelta(seconds=29)
    async with db.transaction() as conn:  # the wait is over
        await conn.execute(outbox.update().values(next_attempt_at=worker.clock()))
    worker.limiter = type(worker.limiter)()
    await worker.run_once()
    assert (await all_rows(db))[0].status == "sent" and len(fake.sent) == 1


async def test_a_channel_that_is_off_fails_its_rows_with_a_reason(
    make_settings: Any, fake: FakeSms
) -> None:
    services = build_services(make_settings(sms_secret_id=""))
    assert "sms" not in services.channels
    db = services.db
    now = services.casework.lifecycle.clock()
    _, number = await petition(db, now, MOBILE, channel="sms")
    await services.casework.lifecycle.accept(number, actor="root")
    await services.worker().run_once()  # no KeyError: the row fails, staff see why
    [row] = await all_rows(db)
    assert row.status == "failed" and "XINFANG_SMS_SECRET_ID" in row.last_error
    reason = explain(channel="sms", status="failed", problem="failed", error=row.last_error)
    assert reason.code == "channel_off"
    assert not fake.sent


async def test_receipts_and_td_through_the_callbacks(
    services: Services, fake: FakeSms, aiohttp_client: Any
) -> None:
    db = services.db
    client = await aiohttp_client(create_app(services, run_worker=False))
    now = services.casework.lifecycle.clock()
    _, first = await petition(db, now, MOBILE, channel="sms")
    _, second = await petition(db, now, "+8613900139000", channel="sms")
    await services.casework.lifecycle.accept(first, actor="root")
    await services.casework.lifecycle.accept(second, actor="root")
    await services.worker().run_once()
    one, two = fake.sent
    body = [fake.receipt(one), fake.receipt(two, delivered=False)]
    resp = await client.post(f"/sms/{CALLBACK_TOKEN}/status", json=body)
    assert resp.status == 200 and await resp.json() == {"result": 0, "errmsg": "OK"}
    a, b = await all_rows(db)
    async with db.read() as conn:
        receipts = [await sms_receipts.receipt_of(conn, r.id) for r in (a, b)]
    assert (a.status, b.status) == ("sent", "failed")
    assert receipts == ["delivered", "undelivered"]
    reason = explain(channel="sms", status="failed", problem="failed", error=b.last_error)
    assert reason.code == "sms_undelivered" and reason.platform_code == "MK:0001"
    # a wrong token is no callback
    assert (await client.post("/sms/wrong-token-0000000000/status", json=body)).status == 404

    # TD: no more broadcasts to that number, case notices still go out
    svc = services.broadcasts
    assert await svc.preview(Audience("all"), ADMIN) == {"sms": 2}
    resp = await client.post(f"/sms/{CALLBACK_TOKEN}/reply", json=fake.reply(MOBILE, "ＴＤ"))
    assert resp.status == 200
    async with db.read() as conn:
        found = await contacts.find(conn, Address("sms", MOBILE))
    assert found is not None and found.broadcast_opt_out
    assert await svc.preview(Audience("all"), ADMIN) == {"sms": 1}
    await client.post(f"/sms/{CALLBACK_TOKEN}/reply", json=fake.reply("+8613900139000", "好的"))
    assert await svc.preview(Audience("all"), ADMIN) == {"sms": 1}  # not an opt-out
    fake.clock_offset += 31
    await services.casework.lifecycle.reply(first, actor="root", text="请补充材料")
    await services.worker().run_once()
    assert fake.sent[-1].phone == MOBILE and fake.sent[-1].template_id == "2000008"


async def test_broadcast_by_sms_through_the_worker(services: Services, fake: FakeSms) -> None:
    db = services.db
    now = services.casework.lifecycle.clock()
    await petition(db, now, MOBILE, channel="sms")
    async with db.transaction() as conn:
        contact = await contacts.get_or_create(conn, Address("sms", MOBILE), now)
        await rows.enqueue(
            conn,
            contact_id=contact.id,
            address=contact.address,
            reply=Reply("本周六来访接待暂停一天"),
            now=now,
            kind="broadcast",
        )
    await services.worker().run_once()
    assert [(s.template_id, s.params) for s in fake.sent] == [
        ("2000009", ["本周六来访接待暂停一天"])
    ]


async def test_an_unfollowed_citizen_gets_the_notice_by_sms_even_with_a_template(
    make_settings: Any, fake: FakeSms, wechat: FakeWeChat
) -> None:
    services = build_services(
        make_settings(
            wechat_token="wechat-token",
            wechat_app_id=wechat.app_id,
            wechat_app_secret=wechat.app_secret,
            wechat_api_base=wechat.url,
            wechat_template_id=wechat.template_id,
        )
    )
    db = services.db
    now = services.casework.lifecycle.clock()
    wechat.unsubscribed.add(OPENID)
    case_id, number = await petition(db, now, OPENID, channel="wechat", phone="13800138000")
    await services.casework.lifecycle.accept(number, actor="root")
    worker = services.worker()
    try:
        await worker.run_once()
        await worker.run_once()
    finally:
        for name in ("sms", "wechat"):
            await services.channels[name].api.close()  # type: ignore[attr-defined]
    wechat_row, sms_row = await all_rows(db)
    assert "43004" in wechat_row.last_error and wechat_row.status == "failed"
    assert sms_row.status == "sent" and fake.sent[0].params[0] == number
    async with db.read() as conn:  # the unfollowed WeChat contact is unreachable there
        found = await contacts.find(conn, Address("wechat", OPENID))
    assert found is not None and not found.reachable
    assert len(await events(db, case_id, FALLBACK)) == 1
