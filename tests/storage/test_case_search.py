"""Search by phone numbers and tracking-number parts, and what a search without case.pii
may match: queries x scopes on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from bot.dialogs.form import load_forms
from bot.domain.search import (
    PERSONAL_ANSWERS,
    PUBLIC_ANSWERS,
    case_pii_doc,
    case_search_doc,
    parse_query,
)
from bot.domain.tracking import new_tracking_no
from bot.storage import case_query
from bot.storage.case_query import COUNT_CAP, CaseFilter, Scope, list_cases
from bot.storage.db import Database
from bot.storage.tables import cases
from tests.cases.lifecycle_support import CONFIG_DIR, make_case

NOW = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
DAY = NOW.date() - timedelta(days=1)  # every case: 2026-11-22, tracking numbers XF261122…
# the three cases' personal data, and the same cases with other personal data
PEOPLE = {
    "mobile": {
        "name": "张三丰",
        "phone": "13812345678",
        "address": "杭州市西湖区文三路100号",
        "id_card": "330106199001011234",
    },
    "landline": {
        "name": "李四",
        "phone": "+8657187654321",
        "address": "上城区解放路",
        "id_card": "",
    },
    "abroad": {"name": "Chan Tai Man", "phone": "+85291234567", "address": "", "id_card": ""},
}
OTHERS = {
    "mobile": {
        "name": "王五",
        "phone": "13998765432",
        "address": "拱墅区湖墅南路",
        "id_card": "330106199101019876",
    },
    "landline": {"name": "赵六", "phone": "13700001111", "address": "滨江区", "id_card": ""},
    "abroad": {"name": "Lee Siu", "phone": "+85263334444", "address": "", "id_card": ""},
}
FACTS = {
    "mobile": ("房屋拆迁补偿款未到位", "拆迁办承诺年底支付，身份证号{id_card}，至今未付"),
    "landline": ("夜间施工噪音扰民", "工地每晚施工到凌晨"),
    "abroad": ("Factory smoke at night", "smoke every night"),
}
RANDOM_PART = {"mobile": "048273", "landline": "519960", "abroad": "730015"}
DEPARTMENT = {"mobile": "330106-zjj", "landline": "330106-hbj", "abroad": "330106-hbj"}

ADMIN = Scope(personal=True)
VIEWER = Scope()  # every department, no case.pii
HBJ_HANDLER = Scope.of(["330106-hbj"], personal=True)
# query -> (what staff with case.pii find, what staff without it find)
TABLE: list[tuple[str, set[str], set[str]]] = [
    # phone numbers, written any way, and their last digits: personal
    ("13812345678", {"mobile"}, set()),
    ("+86 138-1234-5678", {"mobile"}, set()),
    ("138 1234 5678", {"mobile"}, set()),
    ("5678", {"mobile"}, set()),
    ("0571-87654321", {"landline"}, set()),
    ("87654321", {"landline"}, set()),
    ("+852 9123 4567", {"abroad"}, set()),
    ("9123 4567", {"abroad"}, set()),
    # ID-card numbers written in the facts (shown masked without case.pii)
    ("3301061990", {"mobile"}, set()),
    ("身份证号 3301061990", {"mobile"}, set()),
    ("身份证号 3301061991", set(), set()),
    ("1234", {"mobile"}, set()),  # the ID card's last digits
    # names and addresses
    ("张三丰", {"mobile"}, set()),
    ("张三", {"mobile"}, set()),
    ("文三路", {"mobile"}, set()),
    ("chan", {"abroad"}, set()),
    # the petition's own words: everyone
    ("拆迁", {"mobile"}, {"mobile"}),
    ("补偿款 拆迁", {"mobile"}, {"mobile"}),
    ("身份证号", {"mobile"}, {"mobile"}),  # the word is shown, the number masked
    ("噪音", {"landline"}, {"landline"}),
    ("smoke", {"abroad"}, {"abroad"}),
    # any part of a tracking number: everyone
    ("0482", {"mobile"}, {"mobile"}),
    ("048273", {"mobile"}, {"mobile"}),
    ("XF2611", {"mobile", "landline", "abroad"}, {"mobile", "landline", "abroad"}),
    ("xf261122-5199", {"landline"}, {"landline"}),
    ("261122-048273", {"mobile"}, {"mobile"}),
    ("７３００１", {"abroad"}, {"abroad"}),  # full-width digits
    ("拆迁 0482", {"mobile"}, {"mobile"}),
    ("拆迁 5199", set(), set()),
]


def _answers(kind: str, people: dict[str, dict[str, str]]) -> dict[str, Any]:
    person = people[kind]
    request, facts = FACTS[kind]
    return {
        "request": request,
        "facts": facts.format(id_card=person["id_card"]),
        "name": person["name"],
        "phone": person["phone"],
        "address": person["address"],
    }


async def _set_people(db: Database, ids: dict[str, int], people: dict[str, Any]) -> None:
    """Give each case these personal data, and documents rebuilt as registration does."""
    async with db.transaction() as conn:
        for kind, case_id in ids.items():
            answers = _answers(kind, people)
            number = new_tracking_no(DAY, RANDOM_PART[kind])
            await conn.execute(
                update(cases)
                .where(cases.c.id == case_id)
                .values(
                    tracking_no=number,
                    name=answers["name"],
                    phone=answers["phone"],
                    answers=answers,
                    search_doc=case_search_doc(answers, number),
                    search_pii=case_pii_doc(answers, answers["phone"]),
                )
            )


async def _seed(db: Database) -> dict[str, int]:
    ids = {}
    for n, kind in enumerate(PEOPLE):
        when = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=n)
        ids[kind] = await make_case(
            db, when, user=f"citizen-{kind}", department=DEPARTMENT[kind], answers={}
        )
    await _set_people(db, ids, PEOPLE)
    return ids


async def _found(db: Database, ids: dict[str, int], query: str, scope: Scope) -> set[str]:
    kinds = {v: k for k, v in ids.items()}
    async with db.read() as conn:
        page = await list_cases(conn, CaseFilter(q=query), scope)
    return {kinds[c.id] for c in page.rows}


def test_the_forms_personal_fields_are_never_in_the_public_document() -> None:
    """Every field of config/forms/*.yaml marked ``pii`` (or with a name, phone, address or
    representatives role) is searched as personal data, never as public text."""
    personal_roles = {"name", "phone", "address", "representatives"}
    for form in load_forms(CONFIG_DIR).forms.values():
        for f in form.fields:
            if f.pii or f.role in personal_roles:
                assert f.name in PERSONAL_ANSWERS and f.name not in PUBLIC_ANSWERS, f.name
            elif f.name in PUBLIC_ANSWERS:
                assert not f.pii, f.name


def test_tracking_numbers_do_not_overlap_the_personal_numbers() -> None:
    """The table's number fragments find what it says only by design, not by chance."""
    numbers = {k: new_tracking_no(DAY, r) for k, r in RANDOM_PART.items()}
    for fragment in ("5678", "87654321", "1234", "3301061990", "91234567"):
        assert not any(fragment in n for n in numbers.values()), fragment


@pytest.mark.parametrize("cap", [COUNT_CAP, 0])
async def test_queries_by_role(db: Database, monkeypatch: pytest.MonkeyPatch, cap: int) -> None:
    """Both page plans (matches looked up, or tested row by row beyond the count cap)."""
    monkeypatch.setattr(case_query, "COUNT_CAP", cap)
    ids = await _seed(db)
    for query, with_pii, without_pii in TABLE:
        assert await _found(db, ids, query, ADMIN) == with_pii, query
        assert await _found(db, ids, query, VIEWER) == without_pii, query


async def test_a_department_scope_applies_to_every_kind_of_search(db: Database) -> None:
    ids = await _seed(db)
    assert await _found(db, ids, "87654321", HBJ_HANDLER) == {"landline"}
    assert await _found(db, ids, "13812345678", HBJ_HANDLER) == set()  # another department's
    assert await _found(db, ids, "0482", HBJ_HANDLER) == set()
    assert await _found(db, ids, "XF2611", HBJ_HANDLER) == {"landline", "abroad"}
    assert await _found(db, ids, "拆迁", HBJ_HANDLER) == set()


async def test_without_case_pii_no_result_depends_on_personal_data(db: Database) -> None:
    """Every query of the table, and guesses at the personal data itself, give a viewer the
    same cases whatever the petitioners' names, phones, addresses and ID numbers are."""
    ids = await _seed(db)
    guesses = [
        value
        for people in (PEOPLE, OTHERS)
        for person in people.values()
        for value in person.values()
        if value
    ]
    guesses += [g[-4:] for g in guesses if g[-4:].isdigit()]
    queries = [q for q, _, _ in TABLE] + guesses + [f"身份证号 {g}" for g in guesses]
    before = [await _found(db, ids, q, VIEWER) for q in queries]
    await _set_people(db, ids, OTHERS)
    after = [await _found(db, ids, q, VIEWER) for q in queries]
    assert before == after
    assert await _found(db, ids, "13998765432", ADMIN) == {"mobile"}  # admins: the new data


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("138 1234 5678", 1),  # one number, whatever the separators
        ("拆迁 2023年", 3),
        ("XF261122-048273", 1),
        ("abc123", 1),
    ],
)
def test_numbers_are_read_whole(query: str, terms: int) -> None:
    assert len(parse_query(query)) == terms
