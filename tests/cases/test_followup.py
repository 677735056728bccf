"""回访: the follow-up scheduled through the outbox after an answer, with a fixed clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cases.clocks import load_clocks
from bot.cases.lifecycle import Lifecycle
from bot.messages import Reply
from bot.outbox import OutboxWorker
from bot.storage.db import Database
from tests.conftest import FixedClock
from tests.fakes import FakeChannel

from .lifecycle_support import CONFIG_DIR, TZ, followups, make_case, make_lifecycle

ANSWER = {"text": "经调查，企业已承诺于月底前支付欠薪。", "outcome": "supported"}


async def _apply(
    db: Database, lc: Lifecycle, case_id: int, action: str, now: datetime, **data: Any
) -> None:
    async with db.transaction() as conn:
        await lc.apply(conn, case_id, action, actor="staff:li", now=now, **data)


async def _answered(db: Database, clock: FixedClock, lc: Lifecycle, **kw: Any) -> int:
    case_id = await make_case(
        db,
        clock(),
        status="in_progress",
        accepted_at=clock() - timedelta(days=5),
        answer_due_at=clock() + timedelta(days=55),
        **kw,
    )
    await _apply(db, lc, case_id, "answer", clock(), **ANSWER)
    return case_id


async def test_answer_schedules_a_followup_that_goes_out_when_due(
    db: Database, clock: FixedClock
) -> None:
    lc = make_lifecycle()
    case_id = await _answered(db, clock, lc)
    [row] = await followups(db, case_id)
    # answered Mon 23 Nov 2026; followup_days 7 -> Mon 30 Nov, 10:00 Beijing time
    assert row.status == "scheduled"
    assert row.next_attempt_at == datetime(2026, 11, 30, 10, tzinfo=TZ)
    text = Reply.from_json(row.payload).text
    assert text.startswith("回访：您的信访事项 XF") and "2026-11-23 作出处理意见" in text
    assert "“满意”“基本满意”或“不满意”" in text
    # the 复查 window (30 days from the answer) is still open then: it is mentioned
    assert "可在 2026-12-23 前回复“申请复查”" in text

    web = FakeChannel(name="web")
    worker = OutboxWorker(db, {"web": web}, worker_id="w", clock=clock)
    await worker.run_once()
    assert len(web.sent) == 1  # the answer push only
    clock.now = datetime(2026, 11, 30, 9, 59, tzinfo=TZ).astimezone(UTC)
    await worker.run_once()
    assert len(web.sent) == 1
    clock.advance(minutes=1)
    await worker.run_once()
    assert [m.reply.text for m in web.sent][-1] == text
    assert web.sent[-1].kind == "followup"
    [row] = await followups(db, case_id)
    assert row.status == "sent"


async def test_followup_is_in_the_citizens_language(db: Database, clock: FixedClock) -> None:
    lc = make_lifecycle()
    case_id = await _answered(db, clock, lc, user="en-citizen", lang="en")
    [row] = await followups(db, case_id)
    text = Reply.from_json(row.payload).text
    assert text.startswith("Follow-up: your petition XF")
    assert "received a written answer on 2026-11-23" in text
    assert 'reply "request review" before 2026-12-23' in text


async def test_rating_first_cancels_the_followup(db: Database, clock: FixedClock) -> None:
    lc = make_lifecycle()
    case_id = await _answered(db, clock, lc)
    clock.advance(days=2)
    await _apply(db, lc, case_id, "rate", clock(), rating="satisfied")
    [row] = await followups(db, case_id)
    assert row.status == "cancelled"
    web = FakeChannel(name="web")
    clock.advance(days=10)
    await OutboxWorker(db, {"web": web}, worker_id="w", clock=clock).run_once()
    assert all(m.kind != "followup" for m in web.calls)


async def test_review_request_cancels_and_the_decision_schedules_anew(
    db: Database, clock: FixedClock
) -> None:
    lc = make_lifecycle()
    case_id = await _answered(db, clock, lc)
    clock.advance(days=3)
    await _apply(db, lc, case_id, "request_review", clock())
    [first] = await followups(db, case_id)
    assert first.status == "cancelled"
    clock.advance(days=10)
    await _apply(db, lc, case_id, "decide_review", clock(), text="维持。", outcome="explained")
    _, second = await followups(db, case_id)
    assert second.status == "scheduled"
    text = Reply.from_json(second.payload).text
    assert "作出复查意见" in text and "前回复“申请复核”" in text
    clock.advance(days=3)
    await _apply(db, lc, case_id, "request_recheck", clock())
    clock.advance(days=5)
    await _apply(db, lc, case_id, "decide_recheck", clock(), text="维持。", outcome="explained")
    *_, third = await followups(db, case_id)
    text = Reply.from_json(third.payload).text
    assert third.status == "scheduled" and "作出复核意见" in text
    assert "申请" not in text  # 复核 is final: no remedy is offered


async def test_linked_cases_each_get_their_followup(db: Database, clock: FixedClock) -> None:
    lc = make_lifecycle()
    primary = await make_case(db, clock(), status="accepted", accepted_at=clock())
    other = await make_case(db, clock(), user="citizen-2")
    await _apply(db, lc, other, "link", clock(), primary_id=primary)
    await _apply(db, lc, primary, "assign", clock(), department="labour_bureau")
    await _apply(db, lc, primary, "answer", clock(), **ANSWER)
    assert [len(await followups(db, c)) for c in (primary, other)] == [1, 1]
    # a 复查 request is the requester's own: only their follow-up is no longer needed
    await _apply(db, lc, other, "request_review", clock())
    assert [r.status for r in await followups(db, other)] == ["cancelled"]
    assert [r.status for r in await followups(db, primary)] == ["scheduled"]


async def test_followups_off_or_after_the_window(db: Database, clock: FixedClock) -> None:
    shipped = load_clocks(CONFIG_DIR)
    off = make_lifecycle(clocks=replace(shipped, followup_days=0))
    assert await followups(db, await _answered(db, clock, off)) == []
    late = make_lifecycle(clocks=replace(shipped, followup_days=45, followup_hour=15))
    [row] = await followups(db, await _answered(db, clock, late))
    assert row.next_attempt_at == datetime(2027, 1, 7, 15, tzinfo=TZ)
    assert "申请复查" not in Reply.from_json(row.payload).text  # the window closed by then
