"""The case state machine on SQLite and PostgreSQL: every legal and illegal transition."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.statuses import (
    ALL_STATUSES,
    TRANSITIONS,
    LifecycleError,
    TransitionError,
    allowed_actions,
)
from bot.domain.tracking import format_tracking_no
from bot.messages import Reply
from bot.storage import cases, outbox
from bot.storage.db import Database
from bot.storage.tables import case_events
from bot.storage.tables import outbox as outbox_table
from tests.conftest import FixedClock

from .lifecycle_support import events_and_pushes, make_case, make_lifecycle

VALID: dict[str, dict[str, Any]] = {
    "accept": {},
    "reject": {"reason": "不属于信访事项受理范围", "channel": "向区人民法院提起诉讼"},
    "transfer": {"to": "市人力资源和社会保障局"},
    "assign": {"department": "labour_bureau", "co_departments": ["street_office"]},
    "start": {},
    "extend": {"reason": "需要调取企业账目", "days": 20},
    "answer": {"text": "经调查，企业已承诺于月底前支付欠薪。", "outcome": "supported"},
    "request_review": {},
    "decide_review": {"text": "维持原处理意见。", "outcome": "not_supported"},
    "request_recheck": {},
    "decide_recheck": {"text": "维持复查意见。", "outcome": "explained"},
    "close": {},
    "rate": {"rating": "basically_satisfied", "comment": "处理及时"},
    "note": {"note": "已电话联系信访人"},
    "reply": {"message": "请补充劳动合同的照片"},
    "withdraw": {"reason": "已和企业协商解决"},
    "link": {},
}
LEGAL = sorted((action, source) for action, rule in TRANSITIONS.items() for source in rule.sources)


def _setup_values(source: str, now: datetime) -> dict[str, Any]:
    """Columns a case in ``source`` plausibly has (open request windows, deadlines)."""
    values: dict[str, Any] = {}
    if source in ("answered", "reviewed"):
        values["request_until"] = now + timedelta(days=10)
    if source in ("accepted", "assigned", "in_progress", "extended"):
        values["accepted_at"] = now - timedelta(days=5)
        values["answer_due_at"] = now + timedelta(days=55)
        values["due_at"] = values["answer_due_at"]
    return values


async def _apply(db: Database, case_id: int, action: str, now: datetime, **data: Any) -> Any:
    lc = make_lifecycle()
    async with db.transaction() as conn:
        params = dict(data)
        note = str(params.pop("note", ""))
        message = str(params.pop("message", ""))
        return await lc.apply(
            conn, case_id, action, actor="staff:li", now=now, note=note, message=message, **params
        )


@pytest.mark.parametrize(("action", "source"), LEGAL, ids=[f"{a}-from-{s}" for a, s in LEGAL])
async def test_every_legal_transition(
    db: Database, clock: FixedClock, action: str, source: str
) -> None:
    now = clock()
    values = _setup_values(source, now)
    if action == "close":
        values.pop("request_until", None)  # the 复查/复核 window is over
    case_id = await make_case(db, now, status=source, **values)
    data = dict(VALID[action])
    if action == "link":
        data["primary_id"] = await make_case(db, now, user="citizen-2", status="accepted")
    clock.advance(hours=1)
    change = await _apply(db, case_id, action, clock(), **data)

    rule = TRANSITIONS[action]
    expected = "accepted" if action == "link" else (rule.target or source)  # joins the primary
    assert change.case.status == expected
    n_events, n_pushes = await events_and_pushes(db, case_id)
    assert n_events == 1
    assert n_pushes == (1 if rule.push else 0)
    async with db.read() as conn:
        event = (
            await conn.execute(select(case_events).where(case_events.c.case_id == case_id))
        ).one()
    assert event.kind == action
    assert event.actor == "staff:li"
    assert event.at == clock()
    assert event.public is rule.public


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
async def test_every_illegal_transition_is_refused(
    db: Database, clock: FixedClock, action: str
) -> None:
    now = clock()
    refused = sorted(ALL_STATUSES - TRANSITIONS[action].sources)
    primary = await make_case(db, now, user="citizen-2", status="accepted")
    for status in refused:
        case_id = await make_case(db, now, status=status, **_setup_values(status, now))
        data = dict(VALID[action], primary_id=primary) if action == "link" else VALID[action]
        with pytest.raises(TransitionError) as err:
            await _apply(db, case_id, action, now, **data)
        message = str(err.value)
        assert repr(status) in message and repr(action) in message
        assert err.value.status == status
        async with db.read() as conn:
            case = await cases.by_id(conn, case_id)
        assert case is not None and case.status == status
        assert await events_and_pushes(db, case_id) == (0, 0)
    assert refused or action in ("note", "reply")


def test_transition_table_is_consistent() -> None:
    for action, rule in TRANSITIONS.items():
        assert rule.sources <= ALL_STATUSES, action
        assert rule.target is None or rule.target in ALL_STATUSES, action
    assert allowed_actions("closed") == ["rate", "note", "reply"]
    # every status but closed, rejected and withdrawn can move on
    for status in ALL_STATUSES - {"closed", "rejected", "withdrawn"}:
        assert any(r.target for r in TRANSITIONS.values() if status in r.sources), status


async def test_failing_push_rolls_back_the_status_change(db: Database, clock: FixedClock) -> None:
    case_id = await make_case(db, clock())

    async def broken_enqueue(conn: AsyncConnection, **kwargs: Any) -> int:
        await outbox.enqueue(conn, **kwargs)  # the row is written, then the insert "fails"
        raise RuntimeError("outbox insert failed")

    lc = make_lifecycle(enqueue=broken_enqueue)
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await lc.apply(conn, case_id, "accept", actor="staff:li", now=clock())
    async with db.read() as conn:
        case = await cases.by_id(conn, case_id)
    assert case is not None and case.status == "submitted" and case.accepted_at is None
    assert await events_and_pushes(db, case_id) == (0, 0)


async def test_push_goes_to_the_citizen_in_their_language(db: Database, clock: FixedClock) -> None:
    case_id = await make_case(db, clock(), user="en-citizen", lang="en")
    await _apply(db, case_id, "accept", clock())
    async with db.read() as conn:
        row = (
            await conn.execute(select(outbox_table).where(outbox_table.c.case_id == case_id))
        ).one()
    assert row.channel == "web" and row.address == "en-citizen" and row.kind == "push"
    text = Reply.from_json(row.payload).text
    assert text.startswith("Your petition XF") and "has been accepted" in text
    # Mon 23 Nov 2026 + 60 calendar days = Fri 22 Jan 2027
    assert "2027-01-22" in text


async def test_required_details(db: Database, clock: FixedClock) -> None:
    case_id = await make_case(db, clock())
    with pytest.raises(LifecycleError, match="channel is required"):
        await _apply(db, case_id, "reject", clock(), reason="不属于受理范围")
    with pytest.raises(LifecycleError, match="to is required"):
        await _apply(db, case_id, "transfer", clock())
    await _apply(db, case_id, "accept", clock())
    with pytest.raises(LifecycleError, match="department is required"):
        await _apply(db, case_id, "assign", clock())
    await _apply(db, case_id, "assign", clock(), department="labour_bureau")
    with pytest.raises(LifecycleError, match="outcome must be one of"):
        await _apply(db, case_id, "answer", clock(), text="已处理", outcome="maybe")
    with pytest.raises(LifecycleError, match="text is required"):
        await _apply(db, case_id, "answer", clock(), outcome="supported")
    with pytest.raises(LifecycleError, match="unknown action"):
        await _apply(db, case_id, "approve", clock())
    with pytest.raises(LifecycleError, match="a note needs text"):
        await _apply(db, case_id, "note", clock())


async def test_internal_note_is_never_pushed(db: Database, clock: FixedClock) -> None:
    case_id = await make_case(db, clock())
    await _apply(db, case_id, "note", clock(), note="信访人情绪激动，注意沟通方式")
    assert await events_and_pushes(db, case_id) == (1, 0)
    async with db.read() as conn:
        assert await cases.last_public_event(conn, case_id) is None


async def test_linked_cases_share_the_handling(db: Database, clock: FixedClock) -> None:
    now = clock()
    primary = await make_case(db, now, user="citizen-1")
    other = await make_case(db, now, user="citizen-2", lang="en")
    change = await _apply(db, other, "link", now, primary_id=primary)
    assert change.case.linked_to == primary and change.pushes == 1

    # a transition asked on either case is applied to the whole group
    change = await _apply(db, other, "accept", now)
    assert change.group[0] != change.group[1] and change.pushes == 2
    await _apply(db, primary, "assign", now, department="labour_bureau")
    async with db.read() as conn:
        a = await cases.by_id(conn, primary)
        b = await cases.by_id(conn, other)
        links = await cases.links_of(conn, other)
        rows = (
            await conn.execute(
                select(outbox_table.c.address, outbox_table.c.payload).order_by(outbox_table.c.id)
            )
        ).all()
    assert a is not None and b is not None
    assert a.status == b.status == "assigned"
    assert a.department == b.department == "labour_bureau"
    assert a.answer_due_at == b.answer_due_at
    assert [(link.kind, link.case_id) for link in links] == [("linked", primary)]
    texts = [(r.address, Reply.from_json(r.payload).text.split("\n")[0]) for r in rows]
    assert [address for address, _ in texts] == [
        "citizen-2",  # linked
        "citizen-1",  # accepted (primary)
        "citizen-2",  # accepted (linked)
        "citizen-1",  # assigned
        "citizen-2",
    ]
    assert b.tracking_no[2:8] in texts[2][1] and "has been accepted" in texts[2][1]


async def test_link_refuses_self_and_closed(db: Database, clock: FixedClock) -> None:
    now = clock()
    a = await make_case(db, now)
    closed = await make_case(db, now, user="citizen-3", status="closed")
    with pytest.raises(LifecycleError, match="already handled with"):
        await _apply(db, a, "link", now, primary_id=a)
    with pytest.raises(TransitionError):
        await _apply(db, a, "link", now, primary_id=closed)
    with pytest.raises(LifecycleError, match="needs the primary"):
        await _apply(db, a, "link", now)


async def test_concurrent_transitions_on_one_case(db: Database, clock: FixedClock) -> None:
    """Two staff accept and reject at once: one wins, the other sees the new status."""
    case_id = await make_case(db, clock())
    outcomes = await asyncio.gather(
        _apply(db, case_id, "accept", clock()),
        _apply(db, case_id, "reject", clock(), **VALID["reject"]),
        return_exceptions=True,
    )
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], TransitionError)
    assert await events_and_pushes(db, case_id) == (1, 1)


async def test_answer_push_offers_rating_and_review_as_buttons(
    db: Database, clock: FixedClock
) -> None:
    case_id = await make_case(
        db, clock(), status="in_progress", **_setup_values("in_progress", clock())
    )
    await _apply(db, case_id, "answer", clock(), **VALID["answer"])
    async with db.read() as conn:
        case = await cases.by_id(conn, case_id)
        row = (
            await conn.execute(
                select(outbox_table)
                .where(outbox_table.c.case_id == case_id)
                .order_by(outbox_table.c.id)
            )
        ).first()  # the answer's push (a follow-up is scheduled after it)
    assert case is not None
    reply = Reply.from_json(row.payload)
    number = format_tracking_no(case.tracking_no)
    # the words a citizen would type: a tap rates or asks for 复查 like typing does
    assert [(c.value, c.label) for c in reply.choices] == [
        (f"满意 {number}", "满意"),
        (f"基本满意 {number}", "基本满意"),
        (f"不满意 {number}", "不满意"),
        (f"申请复查 {number}", "申请复查"),
    ]
    assert reply.buttons_only  # where there are no buttons, the text says what to type
    assert "回复“满意”" in reply.text
