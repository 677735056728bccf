"""Flags kept up to date: recomputed when a later case, a link, a review request, a rating,
a staff correction or a staff flag decision changes what they depend on."""

from __future__ import annotations

from typing import Any

import pytest

from bot.cases.service import LifecycleService
from bot.domain.statuses import LifecycleError
from bot.storage.db import Database
from tests.conftest import FixedClock

from .test_service import _file, _service

SIMILAR_FACTS = "我是西湖区工地的木工，3月到10月工资一直没结清，建筑公司老板一直推脱。"
NOISE = {
    "category": "environment",
    "request": "请求处理小区旁边工厂夜间噪音扰民的问题",
    "facts": "工厂每天晚上十点以后还在施工，噪音很大，影响休息。",
}


async def _flags(svc: LifecycleService, number: str) -> list[str]:
    return (await svc.get(number)).flags


async def _flag_events(svc: LifecycleService, number: str) -> list[dict[str, Any]]:
    detail = await svc.show(number)
    out = []
    for e in detail.events:
        if e.kind == "flags_changed":
            assert e.public is False and e.actor == "system"
            out.append(dict(e.data))
    return out


async def test_a_later_similar_case_marks_the_earlier_one(db: Database, clock: FixedClock) -> None:
    svc = _service(db, clock)
    first = await _file(db, svc, clock)
    assert await _flags(svc, first) == ["first_petition"]
    assert await _flag_events(svc, first) == []  # the initial flags are not a change

    clock.advance(days=2)
    unrelated = await _file(db, svc, clock, **NOISE)  # same citizen, another matter
    assert await _flags(svc, unrelated) == []  # neither a first petition nor a repeat
    assert await _flags(svc, first) == ["first_petition"]

    clock.advance(days=2)  # same phone, another channel identity, the same matter
    again = await _file(db, svc, clock, user="wechat-identity", facts=SIMILAR_FACTS)
    assert await _flags(svc, again) == ["repeat_petition"]
    assert await _flags(svc, first) == ["first_petition", "repeated_later"]
    assert await _flag_events(svc, first) == [
        {"added": ["repeated_later"], "removed": [], "cause": "later_case"}
    ]
    assert await _flags(svc, unrelated) == []
    assert await _flag_events(svc, again) == []


async def test_linking_updates_both_sides_and_counts_the_group(
    db: Database, clock: FixedClock
) -> None:
    svc = _service(db, clock)
    a = await _file(db, svc, clock, people_count=3)
    b = await _file(db, svc, clock, user="neighbour", phone="13900139000", people_count=3)
    await svc.accept(a, actor="staff:li")
    assert "group_petition" not in await _flags(svc, a)
    await svc.link(b, a, actor="staff:li")
    # two petitioners of 3 people each, handled as one matter: 集体访 (at least 5)
    assert "group_petition" in await _flags(svc, a)
    assert "group_petition" in await _flags(svc, b)
    assert {"added": ["group_petition"], "removed": [], "cause": "link"} in await _flag_events(
        svc, a
    )


async def test_linking_the_same_citizens_cases_is_a_repeat(db: Database, clock: FixedClock) -> None:
    svc = _service(db, clock)
    first = await _file(db, svc, clock)
    clock.advance(days=1)
    # staff judge an unrelated-looking later filing (other words) to be the same matter
    later = await _file(db, svc, clock, user="web-2", **NOISE)
    assert await _flags(svc, later) == []
    await svc.link(later, first, actor="staff:li")
    assert await _flags(svc, later) == ["repeat_petition"]
    assert await _flags(svc, first) == ["first_petition", "repeated_later"]
    # people counted once per citizen: the same person's two filings are not a group
    assert "group_petition" not in await _flags(svc, first)


async def test_review_reason_and_rating_comment_are_searched_for_urgent_words(
    db: Database, clock: FixedClock
) -> None:
    svc = _service(db, clock)
    number = await _file(db, svc, clock)
    await svc.accept(number, actor="staff:li")
    await svc.assign(number, actor="staff:li")
    await svc.answer(number, actor="staff:li", text="已责令企业支付。", outcome="supported")
    await svc.rate(number, rating="dissatisfied", comment="钱还是没给，我真的活不下去了")
    assert "urgent" in await _flags(svc, number)
    assert await _flag_events(svc, number) == [
        {"added": ["urgent"], "removed": [], "cause": "rate"}
    ]
    # staff phoned and judged it not urgent: recomputation keeps their decision...
    await svc.set_flag(number, "urgent", actor="staff:li", on=False, note="已电话回访，情绪稳定")
    assert "urgent" not in await _flags(svc, number)
    clock.advance(days=1)
    await svc.request_review(number, reason="企业仍未支付")
    assert "urgent" not in await _flags(svc, number)
    # ...until the citizen writes urgent words again
    clock.advance(days=1)
    await svc.decide_review(number, actor="staff:li", text="维持。", outcome="explained")
    await svc.request_review(number, reason="老板威胁要同归于尽")
    assert "urgent" in await _flags(svc, number)


async def test_staff_flags_survive_recomputation(db: Database, clock: FixedClock) -> None:
    svc = _service(db, clock)
    number = await _file(db, svc, clock, request="工地发生火灾后老板拒绝支付拖欠的工资")
    assert await _flags(svc, number) == ["first_petition", "urgent"]
    await svc.set_flag(number, "major_difficult", actor="staff:li")
    await svc.set_flag(number, "urgent", actor="staff:li", on=False)
    clock.advance(days=1)
    await _file(db, svc, clock, user="web-2", facts=SIMILAR_FACTS)  # triggers a refresh
    assert await _flags(svc, number) == ["first_petition", "repeated_later", "major_difficult"]


async def test_staff_corrections_recompute_flags(db: Database, clock: FixedClock) -> None:
    svc = _service(db, clock)
    number = await _file(db, svc, clock)
    flags = await svc.update_details(
        number, actor="staff:li", people_count=12, legal_status="arbitration", note="电话核实"
    )
    assert flags == ["first_petition", "group_petition", "litigation_related"]
    case = await svc.get(number)
    assert case.people_count == 12 and case.answers["legal_status"] == "arbitration"
    assert await svc.update_details(number, actor="staff:li", reported_before="yes") == [
        "repeat_petition",
        "group_petition",
        "litigation_related",
    ]
    detail = await svc.show(number)
    corrected = [e for e in detail.events if e.kind == "details_corrected"]
    assert [(e.public, e.actor) for e in corrected] == [(False, "staff:li")] * 2
    assert corrected[0].data["after"] == {"people_count": 12, "legal_status": "arbitration"}
    with pytest.raises(LifecycleError):
        await svc.update_details(number, actor="staff:li", people_count=0)
    with pytest.raises(LifecycleError):
        await svc.update_details(number, actor="staff:li", name="李四")


async def test_a_named_earlier_case_is_suggested_for_linking(
    db: Database, clock: FixedClock
) -> None:
    svc = _service(db, clock)
    first = await _file(db, svc, clock, **NOISE)
    later = await _file(
        db, svc, clock, user="web-2", phone="13700137000", reported_before="yes",
        earlier_tracking_no=first,
    )  # fmt: skip
    assert await _flags(svc, later) == ["repeat_petition"]
    detail = await svc.show(later)
    assert [(link.kind, link.score) for link in detail.links] == [("suggested", 1.0)]
    assert detail.numbers[(await svc.get(first)).id] == first
