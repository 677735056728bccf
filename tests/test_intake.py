"""Intake on real databases: exactly-once steps, per-conversation serialisation, effects."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import build_services
from bot.domain.tracking import format_tracking_no, new_tracking_no
from bot.intake import Intake, IntakeResult
from bot.messages import Address, InboundMessage
from bot.settings import load_settings
from bot.storage import contacts
from bot.storage.db import Database
from bot.storage.tables import case_events, cases, conversations, inbound_messages, outbox
from tests.conftest import CONFIG_DIR, FixedClock
from tests.petition import ANSWERS_ZH, answer_for, current_question


def make_intake(db: Database, clock: FixedClock) -> Intake:
    services = build_services(load_settings(config_dir=CONFIG_DIR))
    return Intake(db, services.engine, clock=clock)


def message(
    address: Address, text: str = "", *, ext: str | None = None, **kw: Any
) -> InboundMessage:
    return InboundMessage(
        address=address,
        external_id=ext or uuid.uuid4().hex,
        received_at=FixedClock().now,
        text=text,
        **kw,
    )


async def state_of(db: Database, address: Address) -> dict[str, Any] | None:
    async with db.read() as conn:
        contact = await contacts.find(conn, address)
        assert contact is not None
        return (
            await conn.execute(
                select(conversations.c.state).where(conversations.c.contact_id == contact.id)
            )
        ).scalar_one()


async def file_petition(intake: Intake, db: Database, address: Address) -> str:
    """Walk the whole form; returns the reply text that carries the tracking number."""
    await intake.handle(message(address, "新建"))
    for _ in range(60):
        state = await state_of(db, address)
        question = current_question(state)
        if question is None:
            break
        assert state is not None
        result = await intake.handle(message(address, answer_for(question, state, ANSWERS_ZH)))
        if question == "__confirm__":
            return "\n".join(r.text for r in result.replies)
    raise AssertionError("the form never reached its confirmation")


async def count(db: Database, table: Any) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_a_petition_becomes_one_case_with_all_answers(
    db: Database, clock: FixedClock
) -> None:
    intake = make_intake(db, clock)
    address = Address("web", "citizen-1")
    final = await file_petition(intake, db, address)
    async with db.read() as conn:
        row = (await conn.execute(select(cases))).one()
        kinds = [e.kind for e in (await conn.execute(select(case_events))).all()]
    assert format_tracking_no(row.tracking_no) in final
    assert row.status == "submitted"
    assert row.phone == "13812345678"  # full-width digits, spaces and hyphens folded
    assert row.appeal_type == "claim" and row.category and row.region
    assert row.answers["request"] == ANSWERS_ZH["request"]
    assert "first_petition" in row.flags
    assert kinds == ["submitted"]
    assert current_question(await state_of(db, address)) is None


async def test_same_message_twice_steps_once_and_gets_the_same_reply(
    db: Database, clock: FixedClock
) -> None:
    intake = make_intake(db, clock)
    address = Address("web", "citizen-2")
    await intake.handle(message(address, "新建"))
    first = await intake.handle(message(address, "申诉求决", ext="m-1"))
    again = await intake.handle(message(address, "申诉求决", ext="m-1"))
    assert again.duplicate and not first.duplicate
    assert [r.text for r in again.replies] == [r.text for r in first.replies]
    assert current_question(await state_of(db, address)) == "name"
    assert await count(db, inbound_messages) == 2


async def test_concurrent_duplicates_step_once(db: Database, clock: FixedClock) -> None:
    intake = make_intake(db, clock)
    other_process = make_intake(db, clock)  # its own in-process locks: only the DB decides
    address = Address("web", "citizen-3")
    await intake.handle(message(address, "新建"))
    results = await asyncio.gather(
        intake.handle(message(address, "申诉求决", ext="dup")),
        other_process.handle(message(address, "申诉求决", ext="dup")),
    )
    assert sorted(r.duplicate for r in results) == [False, True]
    assert results[0].replies == results[1].replies
    assert current_question(await state_of(db, address)) == "name"


async def test_concurrent_messages_of_one_conversation_are_serialised(
    db: Database, clock: FixedClock
) -> None:
    intake = make_intake(db, clock)
    other_process = make_intake(db, clock)
    address = Address("web", "citizen-4")
    await intake.handle(message(address, "新建"))
    await intake.handle(message(address, "申诉求决"))
    # name then phone, sent at once through two "processes": both must land, in some order
    await asyncio.gather(
        intake.handle(message(address, "张三")),
        other_process.handle(message(address, "王五")),
    )
    async with db.read() as conn:
        version = (await conn.execute(select(conversations.c.version))).scalar_one()
    assert version == 4  # every message stepped the state exactly once
    state = await state_of(db, address)
    assert state is not None and state["draft"]["answers"]["name"] in {"张三", "王五"}


async def test_outbox_mode_writes_replies_in_the_same_transaction(
    db: Database, clock: FixedClock
) -> None:
    intake = make_intake(db, clock)
    address = Address("telegram", "42")
    result = await intake.handle(message(address, "你好"), via_outbox=True)
    assert not result.direct and result.replies
    assert await count(db, outbox) == len(result.replies)
    again = await intake.handle(message(address, "你好", ext="x"), via_outbox=True)
    dup = await intake.handle(message(address, "你好", ext="x"), via_outbox=True)
    assert dup.duplicate and dup.replies == [] and not dup.direct  # not queued twice
    assert await count(db, outbox) == len(result.replies) + len(again.replies)


async def test_missed_deadline_sends_replies_through_the_outbox(
    db: Database, clock: FixedClock
) -> None:
    intake = make_intake(db, clock)
    address = Address("wechat", "openid-1")
    past = asyncio.get_running_loop().time() - 1
    result = await intake.handle(message(address, "你好"), direct_deadline=past)
    assert not result.direct
    assert await count(db, outbox) == len(result.replies) > 0


async def test_status_of_own_case_and_foreign_case_needs_phone_digits(
    db: Database, clock: FixedClock
) -> None:
    intake = make_intake(db, clock)
    owner = Address("web", "owner")
    await file_petition(intake, db, owner)
    async with db.read() as conn:
        number = (await conn.execute(select(cases.c.tracking_no))).scalar_one()
    typed = format_tracking_no(number).lower().replace("-", " ")

    own = await intake.handle(message(owner, typed))
    own_text = "\n".join(r.text for r in own.replies)
    assert format_tracking_no(number) in own_text and "追讨" in own_text  # summary shown

    stranger = Address("web", "stranger")
    foreign = await intake.handle(message(stranger, typed))
    foreign_text = "\n".join(r.text for r in foreign.replies)
    assert "追讨" not in foreign_text and "张三" not in foreign_text
    wrong = await intake.handle(message(stranger, "0000"))
    assert "追讨" not in "\n".join(r.text for r in wrong.replies)
    await intake.handle(message(stranger, typed))
    right = await intake.handle(message(stranger, "5678"))
    right_text = "\n".join(r.text for r in right.replies)
    assert format_tracking_no(number) in right_text and "追讨" not in right_text


async def test_unknown_and_mistyped_numbers_are_told_apart(db: Database, clock: FixedClock) -> None:
    intake = make_intake(db, clock)
    address = Address("web", "typo")
    unknown = new_tracking_no(clock.now.date(), "123456")
    typo = unknown[:-1] + str((int(unknown[-1]) + 1) % 10)
    unknown_reply = await intake.handle(message(address, unknown))
    typo_reply = await intake.handle(message(address, typo))
    assert unknown_reply.replies[0].text != typo_reply.replies[0].text


async def test_draft_survives_a_restart(db: Database, clock: FixedClock) -> None:
    address = Address("web", "restart")
    first = make_intake(db, clock)
    await first.handle(message(address, "新建"))
    await first.handle(message(address, "申诉求决"))
    await first.handle(message(address, "张三"))
    restarted = make_intake(db, clock)  # a new process: nothing but the database
    await restarted.handle(message(address, "13812345678"))
    state = await state_of(db, address)
    assert state is not None
    assert state["draft"]["answers"]["name"] == "张三"
    assert current_question(state) == "address"


@pytest.mark.parametrize("event", ["unsubscribe"])
async def test_unsubscribe_marks_contact_unreachable(
    db: Database, clock: FixedClock, event: str
) -> None:
    intake = make_intake(db, clock)
    address = Address("wechat", "openid-2")
    await intake.handle(message(address, "你好"))
    result: IntakeResult = await intake.handle(message(address, event=event))
    assert result.replies == []
    async with db.read() as conn:
        contact = await contacts.find(conn, address)
    assert contact is not None and not contact.reachable
