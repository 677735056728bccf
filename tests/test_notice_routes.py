"""Notices nothing can deliver: a petitioner told on paper, a channel this installation does
not run (SMS before a provider is configured). They are recorded failed with their
reason (never raised, never waiting for a worker that will not come), and the rows of
other chats go out as usual."""

from __future__ import annotations

from datetime import timedelta

from bot.cases.notice_routes import NoticeRoutes
from bot.delivery_reasons import explain
from bot.domain.arrival import PAPER, SMS
from bot.messages import Address, Reply
from bot.outbox import OutboxWorker
from bot.storage import contacts
from bot.storage import outbox as rows
from bot.storage.db import Database
from tests.conftest import FixedClock
from tests.fakes import FakeChannel
from tests.test_outbox import row


def test_what_each_channel_is_refused_for() -> None:
    unknown = NoticeRoutes(None)  # a CLI process: only paper is known to be undeliverable
    assert unknown.refusal(PAPER) == rows.PAPER_ONLY
    assert unknown.refusal(SMS) == ""
    running = NoticeRoutes({"web": object(), "wechat": object()})
    assert running.refusal("web") == ""
    assert running.refusal(SMS) == f"{rows.NOT_CONFIGURED}: sms"
    for error, code in (
        (rows.PAPER_ONLY, "paper_only"),
        (running.refusal(SMS), "channel_off"),
    ):
        found = explain(channel="sms", status="failed", problem="", error=error)
        assert found.code == code


async def test_undeliverable_notices_are_failed_and_the_others_go_out(
    db: Database, clock: FixedClock
) -> None:
    fake = FakeChannel()
    routes = NoticeRoutes({fake.name: fake})
    async with db.transaction() as conn:
        paper = await contacts.get_or_create(conn, Address(PAPER, "p1"), clock())
        sms = await contacts.get_or_create(conn, Address(SMS, "+8613812345678"), clock())
        chat = await contacts.get_or_create(conn, Address(fake.name, "c1"), clock())
        ids = [
            await routes(
                conn, contact_id=c.id, address=c.address, reply=Reply("受理告知"), now=clock()
            )
            for c in (paper, sms, chat)
        ]
        # a row written around the routes (an older process): pending on a channel no
        # worker here runs
        stray = await rows.enqueue(
            conn, contact_id=sms.id, address=sms.address, reply=Reply("x"), now=clock()
        )
    worker = OutboxWorker(db, {fake.name: fake}, worker_id="w1", clock=clock)
    assert await worker.run_once() == 1  # only the chat's row was claimed …
    assert [m.reply.text for m in fake.sent] == ["受理告知"]  # … and sent
    states = [(r.status, r.last_error) for r in [await row(db, i) for i in ids]]
    assert states == [
        ("failed", rows.PAPER_ONLY),
        ("failed", f"{rows.NOT_CONFIGURED}: sms"),
        ("sent", None),
    ]
    # a worker handed a row of a channel it does not run fails it instead of raising
    async with db.transaction() as conn:
        claimed = await rows.claim_due(
            conn,
            worker="w1",
            now=clock(),
            limit=10,
            lease=timedelta(minutes=1),
            channels=[SMS],
        )
    assert [r.id for r in claimed] == [stray]
    assert await worker._deliver(claimed[0]) is None
    assert (await row(db, stray)).status == "failed"
    assert (await row(db, stray)).last_error == (
        f"{rows.NOT_CONFIGURED}: sms (not run by this process)"
    )
