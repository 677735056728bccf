"""The lifecycle service: registration enrichment, clocks with a fixed clock, limits, due lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.cases.registration import create_case
from bot.cases.service import LifecycleService, load_case_config
from bot.dialogs.texts import load_texts
from bot.dialogs.types import Submission
from bot.domain.statuses import LifecycleError, TransitionError
from bot.domain.tracking import format_tracking_no, new_tracking_no
from bot.intake import Intake
from bot.messages import Address, InboundMessage, Reply
from bot.storage import contacts
from bot.storage.db import Database
from bot.storage.tables import outbox
from tests.conftest import FixedClock
from tests.dialogs.harness import make_config

from .lifecycle_support import CONFIG_DIR, TZ

WAGES = {
    "request": "请求督促杭州某某建筑公司支付拖欠的工资三万二千元",
    "facts": "我在西湖区某工地做木工，2026年3月到10月的工资一直没有结清，老板多次推脱。",
}


def _service(db: Database, clock: FixedClock) -> LifecycleService:
    return LifecycleService(db, load_case_config(CONFIG_DIR), load_texts(CONFIG_DIR), clock=clock)


async def _file(
    db: Database,
    svc: LifecycleService,
    clock: FixedClock,
    *,
    user: str = "citizen-1",
    phone: str = "13800138000",
    **answers: Any,
) -> str:
    submission = Submission(
        form_id="intake",
        form_version=1,
        lang="zh",
        answers={
            "appeal_type": "seek_resolution",
            "name": "王五",
            "phone": phone,
            "region": "330106",
            "category": "labour",
            "people_count": 1,
            **WAGES,
            **answers,
        },
    )
    async with db.transaction() as conn:
        contact = await contacts.get_or_create(conn, Address("web", user), clock())
        return await create_case(
            conn,
            contact=contact,
            submission=submission,
            now=clock(),
            enrich=svc.registrar.enrich,
        )


def _local(dt: datetime | None) -> str:
    assert dt is not None
    return dt.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


async def test_registration_routes_flags_and_suggests_duplicates(
    db: Database, clock: FixedClock
) -> None:
    svc = _service(db, clock)
    first = await _file(db, svc, clock)
    case = await svc.get(first)
    assert case.department == "330106-rsj"
    assert "first_petition" in case.flags and "repeat_petition" not in case.flags
    # Mon 23 Nov + 15 calendar days = Tue 8 Dec, end of day local time
    assert _local(case.due_at) == "2026-12-08 23:59"

    clock.advance(days=2)
    again = await _file(
        db,
        svc,
        clock,
        facts="我是西湖区工地的木工，3月到10月工资一直没结清，建筑公司老板一直推脱。",
    )
    repeat = await svc.get(again)
    assert "repeat_petition" in repeat.flags and "first_petition" not in repeat.flags

    other = await _file(db, svc, clock, user="neighbour", phone="13900139000")
    detail = await svc.show(other)
    assert {link.kind for link in detail.links} == {"suggested"}
    linked_ids = {link.case_id for link in detail.links} | {
        link.other_case_id for link in detail.links
    }
    assert case.id in linked_ids
    assert all(0 < link.score <= 1 for link in detail.links)
    assert "first_petition" in (await svc.get(other)).flags
    assert detail.numbers[case.id] == first

    # staff link the new case to the earlier one: one handling, the link replaces the suggestion
    await svc.link(other, first, actor="staff:li")
    detail = await svc.show(other)
    assert detail.case.linked_to == case.id and detail.numbers[case.id] == first
    own = detail.case.id
    pairs = {
        (link.kind, link.other_case_id if link.case_id == own else link.case_id)
        for link in detail.links
    }
    assert ("linked", case.id) in pairs


async def test_clocks_and_extension_limits(db: Database, clock: FixedClock) -> None:
    svc = _service(db, clock)
    number = await _file(db, svc, clock)
    change = await svc.accept(number, actor="staff:li")
    # 60 calendar days from Mon 23 Nov 2026: Fri 22 Jan 2027
    assert _local(change.case.answer_due_at) == "2027-01-22 23:59"
    assert change.case.due_at == change.case.answer_due_at
    await svc.assign(number, actor="staff:li")  # the routed department
    assert (await svc.get(number)).department == "330106-rsj"
    await svc.start(number, actor="staff:wang")

    with pytest.raises(LifecycleError, match="1 to 30 days"):
        await svc.extend(number, actor="staff:wang", reason="需调查", days=31)
    with pytest.raises(LifecycleError, match="reason is required"):
        await svc.extend(number, actor="staff:wang", reason=" ", days=10)
    change = await svc.extend(number, actor="staff:wang", reason="需调取企业账目", days=30)
    # 22 Jan + 30 calendar days = Sun 21 Feb 2027: the deadline moves to the next working day
    assert change.case.status == "extended" and change.case.extensions == 1
    assert _local(change.case.answer_due_at) == "2027-02-22 23:59"
    with pytest.raises(LifecycleError, match="already has 1 extension"):
        await svc.extend(number, actor="staff:wang", reason="再延期", days=5)

    async with db.read() as conn:
        rows = (await conn.execute(select(outbox.c.payload).order_by(outbox.c.id))).all()
    pushes = [Reply.from_json(r.payload).text for r in rows]
    assert len(pushes) == 3  # accepted, assigned, extended (starting is not pushed)
    assert "2027-02-22" in pushes[2] and "需调取企业账目" in pushes[2]
    assert "西湖区人力资源和社会保障局" in pushes[1]


async def test_review_window_closes_after_30_days(db: Database, clock: FixedClock) -> None:
    svc = _service(db, clock)
    late = await _file(db, svc, clock)
    timely = await _file(db, svc, clock, user="citizen-2", phone="13700137000")
    for number in (late, timely):
        await svc.accept(number, actor="staff:li")
        await svc.assign(number, actor="staff:li", department="330106-rsj")
        await svc.answer(number, actor="staff:li", text="企业已支付欠薪。", outcome="supported")
    answered = await svc.get(late)
    # answered Mon 23 Nov: 复查 may be asked until Wed 23 Dec, end of day
    assert _local(answered.request_until) == "2026-12-23 23:59"

    with pytest.raises(LifecycleError, match="cannot be closed before 2026-12-23"):
        await svc.close(late, actor="staff:li")
    clock.advance(days=29)
    change = await svc.request_review(timely)
    assert change.case.status == "review_requested"
    assert _local(change.case.due_at) == "2027-01-21 23:59"  # decided within 30 days

    clock.advance(days=2)
    with pytest.raises(LifecycleError, match="window to ask for 复查 closed on 2026-12-23"):
        await svc.request_review(late)
    assert (await svc.close(late, actor="staff:li")).case.status == "closed"
    with pytest.raises(TransitionError):
        await svc.request_review(late)

    change = await svc.decide_review(
        timely, actor="staff:zhao", text="维持原处理意见。", outcome="explained"
    )
    assert change.case.status == "reviewed"
    change = await svc.request_review(timely)  # the next remedy: 复核
    assert change.case.status == "recheck_requested"
    change = await svc.decide_review(
        timely, actor="staff:zhao", text="维持复查意见。", outcome="explained"
    )
    assert change.case.status == "rechecked" and change.case.request_until is None
    assert (await svc.rate(timely, rating="dissatisfied", comment="太慢")).case.rating == (
        "dissatisfied"
    )
    assert (await svc.close(timely, actor="staff:zhao")).case.status == "closed"


async def test_overdue_and_near_due_listing(db: Database, clock: FixedClock) -> None:
    svc = _service(db, clock)
    old = await _file(db, svc, clock)  # acceptance due Tue 8 Dec
    clock.advance(days=12)  # Sat 5 Dec: due in 1 working day (Mon 7 and Tue 8 are working)
    fresh = await _file(db, svc, clock, user="citizen-2", phone="13700137000")
    due = await svc.list_due()
    assert [(d.case.tracking_no, d.state) for d in due] == [(old, "near_due")]

    clock.advance(days=4)  # Wed 9 Dec
    due = await svc.list_due()
    assert [(d.case.tracking_no, d.state) for d in due] == [(old, "overdue")]
    assert {d.case.tracking_no for d in await svc.list_due(include_ok=True)} == {old, fresh}
    assert await svc.list_due(department="330102-rsj") == []

    assert svc.calendar_gaps() == [2027]  # only 2026 is shipped: 2027 is not guessed
    await svc.accept(old, actor="staff:li")  # the answer clock replaces the acceptance one
    assert await svc.list_due() == []
    detail = await svc.show(old)
    assert detail.deadline == "ok"
    assert [e.kind for e in detail.events] == ["submitted", "accept"]


async def test_unknown_numbers_and_departments(db: Database, clock: FixedClock) -> None:
    svc = _service(db, clock)
    number = await _file(db, svc, clock)
    with pytest.raises(LifecycleError, match="not a valid tracking number"):
        await svc.accept("XF123", actor="staff:li")
    with pytest.raises(LifecycleError, match="no case"):
        await svc.accept(new_tracking_no(date(2026, 1, 1), "000000"), actor="staff:li")
    await svc.accept(number, actor="staff:li")
    with pytest.raises(LifecycleError, match="unknown department 'nowhere'"):
        await svc.assign(number, actor="staff:li", department="nowhere")


def test_fixed_clock_is_monday_morning() -> None:
    assert FixedClock().now == datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    assert FixedClock().now.astimezone(TZ).weekday() == 0
    assert timedelta(days=1)


async def _say(intake: Intake, clock: FixedClock, user: str, text: str, n: int) -> str:
    msg = InboundMessage(
        address=Address("web", user), external_id=f"{user}-{n}", received_at=clock(), text=text
    )
    result = await intake.handle(msg)
    return "\n".join(r.text for r in result.replies)


async def test_citizen_rates_and_requests_review_by_message(
    db: Database, clock: FixedClock
) -> None:
    svc = _service(db, clock)
    intake = Intake(db, make_config(), clock=clock, lifecycle=svc)
    number = await _file(db, svc, clock)
    shown = format_tracking_no(number)
    assert "没有可以申请复查" in await _say(intake, clock, "citizen-1", "申请复查", 1)
    await svc.accept(number, actor="staff:li")
    await svc.assign(number, actor="staff:li")
    await svc.answer(number, actor="staff:li", text="已责令企业支付。", outcome="supported")

    # someone else cannot rate this citizen's case
    assert "没有可以评价" in await _say(intake, clock, "stranger", "满意", 1)
    reply = await _say(intake, clock, "citizen-1", "不满意：只付了一半", 2)
    assert f"{shown}：不满意" in reply
    case = await svc.get(number)
    assert (case.rating, case.rating_comment) == ("dissatisfied", "只付了一半")

    clock.advance(days=3)
    pushes = await _outbox_count(db)
    reply = await _say(intake, clock, "citizen-1", f"申请复查 {shown}，只付了一半", 3)
    # described first (the case, the reason, the last day to ask), filed once confirmed
    assert "确认申请吗" in reply and "只付了一半" in reply
    assert (await svc.get(number)).status == "answered"
    reply = await _say(intake, clock, "citizen-1", "1", 5)
    # asked Thu 26 Nov: decided within 30 days, by Sat 26 Dec -> next working day Mon 28 Dec
    assert f"{shown} 的复查申请" in reply and "2026-12-28" in reply
    assert (await svc.get(number)).status == "review_requested"
    assert await _outbox_count(db) == pushes  # acknowledged once, in the conversation
    detail = await svc.show(number)
    assert [e.actor for e in detail.events][-2:] == ["citizen", "citizen"]

    await svc.decide_review(number, actor="staff:zhao", text="维持。", outcome="explained")
    clock.advance(days=33)  # the 复核 window ended Mon 28 Dec (26 Dec was a Saturday)
    reply = await _say(intake, clock, "citizen-1", "申请复核", 4)
    assert "2026-12-28" in reply
    assert "申请期限已于" in reply and (await svc.get(number)).status == "reviewed"


async def test_reason_typed_at_the_review_confirmation_is_filed_with_it(
    db: Database, clock: FixedClock
) -> None:
    svc = _service(db, clock)
    intake = Intake(db, make_config(), clock=clock, lifecycle=svc)
    number = await _file(db, svc, clock)
    await svc.accept(number, actor="staff:li")
    await svc.assign(number, actor="staff:li")
    await svc.answer(number, actor="staff:li", text="已责令企业支付。", outcome="supported")

    # 不满意 within the window: told until when and how to ask for 复查
    reply = await _say(intake, clock, "citizen-1", "不满意，根本没有人来找过我们调查", 1)
    assert "不满意" in reply and "申请复查 理由" in reply
    reply = await _say(intake, clock, "citizen-1", "申请复查", 2)
    assert "确认申请吗" in reply and "未说明" in reply
    # the words typed at the confirmation are the reason (its lead-in dropped), not a petition
    reply = await _say(intake, clock, "citizen-1", "理由是去年停发的6个月低保没有补发", 3)
    assert "理由：去年停发的6个月低保没有补发" in reply and "确认申请吗" in reply
    assert (await svc.get(number)).status == "answered"
    reply = await _say(intake, clock, "citizen-1", "对", 4)
    assert f"{format_tracking_no(number)} 的复查申请" in reply
    assert (await svc.get(number)).status == "review_requested"
    detail = await svc.show(number)
    assert detail.events[-1].data.get("reason") == "去年停发的6个月低保没有补发"
    reply = await _say(intake, clock, "citizen-1", "谢谢", 5)
    assert "第1题" not in reply  # no stray petition was opened


async def test_someone_elses_anonymous_case_is_not_offered_a_phone_check(
    db: Database, clock: FixedClock
) -> None:
    svc = _service(db, clock)
    intake = Intake(db, make_config(), clock=clock, lifecycle=svc)
    number = await _file(db, svc, clock, phone="", name="", appeal_type="accusation")
    shown = format_tracking_no(number)
    reply = await _say(intake, clock, "stranger", shown, 1)
    assert "无法显示" in reply and "后4位" not in reply
    assert "王五" not in reply and "拖欠" not in reply
    reply = await _say(intake, clock, "citizen-1", shown, 1)  # the owner still sees it
    assert "拖欠" in reply


async def test_staff_set_and_clear_flags_on_the_timeline_only(
    db: Database, clock: FixedClock
) -> None:
    svc = _service(db, clock)
    number = await _file(db, svc, clock)
    before = await _outbox_count(db)
    assert "urgent" in await svc.set_flag(
        number, "urgent", actor="staff:li", note="电话反映情况紧急"
    )
    assert "major_difficult" in await svc.set_flag(number, "major_difficult", actor="staff:li")
    flags = await svc.set_flag(number, "urgent", actor="staff:li", on=False)
    assert "urgent" not in flags and "major_difficult" in flags
    detail = await svc.show(number)
    flag_events = [e for e in detail.events if e.kind.startswith("flag_")]
    assert [(e.kind, e.public) for e in flag_events] == [
        ("flag_set", False),
        ("flag_set", False),
        ("flag_cleared", False),
    ]
    assert await _outbox_count(db) == before  # flags are never pushed to the citizen
    with pytest.raises(LifecycleError):
        await svc.set_flag(number, "first_petition", actor="staff:li")  # computed, not staff's


async def _outbox_count(db: Database) -> int:
    async with db.read() as conn:
        return len((await conn.execute(select(outbox.c.id))).all())


async def test_status_lookup_shows_the_latest_public_event_of_any_kind(
    db: Database, clock: FixedClock
) -> None:
    svc = _service(db, clock)
    intake = Intake(db, make_config(), clock=clock, lifecycle=svc)
    number = await _file(db, svc, clock)
    shown = format_tracking_no(number)

    async def progress(n: int, user: str = "citizen-1") -> str:
        reply = await _say(intake, clock, user, shown, n)
        lines = [line for line in reply.splitlines() if "最新进展" in line or "Latest" in line]
        return lines[0] if lines else ""

    assert await progress(1) == "最新进展：2026-11-23 已登记，等待受理审查"
    await svc.accept(number, actor="staff:li")
    # accepted Mon 23 Nov: answer within 60 days, by Fri 22 Jan 2027
    assert await progress(2) == "最新进展：2026-11-23 已受理，将在 2027-01-22 前出具书面处理意见"
    clock.advance(days=1)
    await svc.assign(number, actor="staff:li", department="330106-rsj")
    assert "已交由西湖区人力资源和社会保障局办理" in await progress(3)
    await svc.note(number, actor="staff:li", text="内部：信访人情绪激动")  # internal
    assert "2026-11-24 已交由" in await progress(4)
    clock.advance(days=2)
    await svc.extend(number, actor="staff:li", reason="需要调取企业账目", days=20)
    assert await progress(5) == (
        "最新进展：2026-11-26 办理期限延长至 2027-02-11，理由：需要调取企业账目"
    )
    await svc.reply(number, actor="staff:li", text="已约谈企业负责人", note="内部：企业态度消极")
    assert await progress(6) == "最新进展：2026-11-26 工作人员回复：已约谈企业负责人"
    await svc.answer(number, actor="staff:li", text="已责令企业支付。", outcome="supported")
    assert await progress(7) == "最新进展：2026-11-26 已出具处理意见（支持）"

    # someone else who proves the phone digits sees the same progress, in their language
    await _say(intake, clock, "en-stranger", "English", 1)
    await _say(intake, clock, "en-stranger", shown, 2)
    reply = await _say(intake, clock, "en-stranger", "8000", 3)
    assert "Latest: 2026-11-26 answered (upheld)" in reply


async def test_citizen_withdraws_before_the_answer_and_not_after(
    db: Database, clock: FixedClock
) -> None:
    svc = _service(db, clock)
    intake = Intake(db, make_config(), clock=clock, lifecycle=svc)
    number = await _file(db, svc, clock)
    await svc.accept(number, actor="staff:li")
    reply = await _say(intake, clock, "citizen-1", "撤回，已经和企业协商好了", 1)
    assert "撤回后该事项不再办理" in reply and (await svc.get(number)).status == "accepted"
    reply = await _say(intake, clock, "citizen-1", "1", 2)
    assert "已撤回" in reply
    case = await svc.get(number)
    assert case.status == "withdrawn" and case.due_at is None
    events = (await svc.show(number)).events
    assert (events[-1].kind, events[-1].actor, events[-1].data) == (
        "withdraw",
        "citizen",
        {"reason": "已经和企业协商好了"},
    )
    # a withdrawn case is no longer open: nothing more to withdraw, and staff cannot act on it
    assert "没有可以撤回" in await _say(intake, clock, "citizen-1", "撤回", 3)
    with pytest.raises(LifecycleError):
        await svc.assign(number, actor="staff:li")
