"""Linked groups are one matter with several petitioners: each petitioner's remedy is
their own, every citizen hears of an event once, and a petition merged into an answered
matter gets its opinion and its own window to ask for 复查."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.messages import Reply
from bot.storage import cases
from bot.storage.db import Database
from bot.storage.tables import case_events
from bot.storage.tables import outbox as outbox_table
from tests.conftest import FixedClock

from .lifecycle_support import make_case, make_lifecycle

ANSWER = {"text": "经核查，村道将于明年三月前修复。", "outcome": "supported"}


async def _apply(
    db: Database, case_id: int, action: str, now: datetime, actor: str = "staff:li", **data: Any
) -> Any:
    async with db.transaction() as conn:
        return await make_lifecycle().apply(conn, case_id, action, actor=actor, now=now, **data)


async def _case(db: Database, case_id: int) -> cases.CaseRow:
    async with db.read() as conn:
        row = await cases.by_id(conn, case_id)
    assert row is not None
    return row


async def _pushes(db: Database) -> list[tuple[str, str]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(outbox_table.c.address, outbox_table.c.payload).order_by(outbox_table.c.id)
        )
        return [(r.address, Reply.from_json(r.payload).text) for r in rows]


async def _answered_group(db: Database, now: datetime) -> tuple[int, int]:
    """Two petitioners' cases of one matter, handled together and answered."""
    first = await make_case(db, now, user="citizen-1")
    second = await make_case(db, now, user="citizen-2")
    await _apply(db, second, "link", now, primary_id=first)
    for action in ("accept", "assign"):
        await _apply(db, first, action, now, department="330102-zjj")
    await _apply(db, first, "answer", now, **ANSWER)
    return first, second


async def test_one_citizen_with_two_linked_cases_hears_once(
    db: Database, clock: FixedClock
) -> None:
    now = clock()
    first = await make_case(db, now, user="citizen-1")
    again = await make_case(db, now, user="citizen-1")  # the same person filed twice
    await _apply(db, again, "link", now, primary_id=first)
    change = await _apply(db, first, "accept", now)
    assert change.pushes == 1 and len(change.group) == 2
    assert [address for address, _ in await _pushes(db)] == ["citizen-1", "citizen-1"]


async def test_each_petitioner_asks_for_review_on_their_own_case(
    db: Database, clock: FixedClock
) -> None:
    now = clock()
    first, second = await _answered_group(db, now)
    await _apply(db, second, "rate", now, actor="citizen", rating="dissatisfied")
    await _apply(db, second, "request_review", now, actor="citizen", reason="工期太长")
    a, b = await _case(db, first), await _case(db, second)
    assert (a.status, a.rating, a.linked_to) == ("answered", "", None)
    assert (b.status, b.rating, b.linked_to) == ("review_requested", "dissatisfied", None)
    async with db.read() as conn:
        kinds = (
            await conn.execute(select(case_events.c.kind).where(case_events.c.case_id == first))
        ).all()
    assert "request_review" not in {k[0] for k in kinds}  # nothing landed on the other case
    # the review is decided on the requester's case alone
    change = await _apply(db, second, "decide_review", now, actor="staff:sup", **ANSWER)
    assert change.group == (b.tracking_no,)


async def test_primary_asking_for_review_hands_the_group_on(
    db: Database, clock: FixedClock
) -> None:
    now = clock()
    first, second = await _answered_group(db, now)
    third = await make_case(db, now, user="citizen-3")
    await _apply(db, third, "link", now, primary_id=first)
    await _apply(db, first, "request_review", now, actor="citizen")
    assert (await _case(db, second)).linked_to is None
    assert (await _case(db, third)).linked_to == second
    change = await _apply(db, third, "close", now + timedelta(days=40))
    assert set(change.group) == {(await _case(db, n)).tracking_no for n in (second, third)}


async def test_merging_into_an_answered_matter_gives_its_opinion_and_a_window(
    db: Database, clock: FixedClock
) -> None:
    now = clock()
    first, _ = await _answered_group(db, now)
    later = now + timedelta(days=20)
    newcomer = await make_case(db, later, user="citizen-9")
    change = await _apply(db, newcomer, "link", later, primary_id=first)
    case = await _case(db, newcomer)
    assert (case.status, case.answer_text, case.answer_outcome) == (
        "answered",
        ANSWER["text"],
        "supported",
    )
    assert case.answered_at == later
    assert case.request_until is not None and case.request_until > later + timedelta(days=29)
    async with db.read() as conn:
        opinions = await cases.opinions(conn, newcomer)
    assert [(o.stage, o.text) for o in opinions] == [("answer", ANSWER["text"])]
    told = [text for address, text in await _pushes(db) if address == "citizen-9"]
    assert change.pushes == 2 and "合并办理" in told[0] and ANSWER["text"] in told[1]
    # their window is their own: they may ask for 复查 now, the first petitioner's aside
    await _apply(db, newcomer, "request_review", later, actor="citizen")
    assert (await _case(db, newcomer)).status == "review_requested"
