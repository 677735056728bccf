"""The staff case list query: filters, scope, Chinese search, sort and pages (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bot.cases.search import case_search_doc
from bot.storage.case_query import CaseFilter, Clock, Scope, Sort, iter_cases, list_cases
from bot.storage.db import Database
from bot.storage.tables import cases
from tests.cases.lifecycle_support import make_case

NOW = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
CLOCK = Clock(now=NOW, near_due_until=NOW + timedelta(days=3))
EVERYTHING = Scope()


async def _case(db: Database, n: int, request: str, **values: object) -> int:
    answers = {"request": request, "facts": values.pop("facts", "")}
    return await make_case(
        db,
        NOW - timedelta(days=n),
        user=f"citizen-{n}",
        answers=answers,
        search_doc=case_search_doc(answers),
        **values,
    )


async def _seed(db: Database) -> dict[str, int]:
    return {
        "wages": await _case(
            db,
            1,
            "请求支付拖欠的工资三万元",
            department="hz-rsj",
            flags=["urgent"],
            due_at=NOW - timedelta(hours=1),
        ),
        "demolition": await _case(
            db,
            2,
            "房屋拆迁补偿款不到位",
            category="demolition",
            department="330106-zjj",
            co_departments=["hz-rsj"],
            status="accepted",
            due_at=NOW + timedelta(days=2),
        ),
        "pollution": await _case(
            db,
            3,
            "Factory smoke pollution at night",
            category="environment",
            department="330106-hbj",
            status="closed",
            flags=["urgent", "group_petition"],
        ),
        "noise": await _case(
            db,
            40,
            "夜间施工噪音扰民",
            facts="拆迁工地每晚施工",
            category="environment",
            department="330106-hbj",
            due_at=NOW + timedelta(days=20),
        ),
    }


async def _ids(db: Database, flt: CaseFilter, scope: Scope = EVERYTHING, **kw: object) -> list[int]:
    async with db.read() as conn:
        page = await list_cases(conn, flt, scope, clock=CLOCK, **kw)  # type: ignore[arg-type]
    return [c.id for c in page.rows]


async def test_filters(db: Database) -> None:
    ids = await _seed(db)
    assert await _ids(db, CaseFilter(statuses=("accepted",))) == [ids["demolition"]]
    assert set(await _ids(db, CaseFilter(categories=("environment",)))) == {
        ids["pollution"],
        ids["noise"],
    }
    # a department filter matches the lead and the co-handling departments
    assert set(await _ids(db, CaseFilter(departments=("hz-rsj",)))) == {
        ids["wages"],
        ids["demolition"],
    }
    assert await _ids(db, CaseFilter(flags=("urgent", "group_petition"))) == [ids["pollution"]]
    assert await _ids(db, CaseFilter(deadline="overdue")) == [ids["wages"]]
    assert await _ids(db, CaseFilter(deadline="near_due")) == [ids["demolition"]]
    week = CaseFilter(submitted_from=NOW - timedelta(days=7), submitted_to=NOW)
    assert set(await _ids(db, week)) == {ids["wages"], ids["demolition"], ids["pollution"]}


async def test_scope_limits_every_query(db: Database) -> None:
    ids = await _seed(db)
    rsj = Scope.of(["hz-rsj"])
    assert set(await _ids(db, CaseFilter(), rsj)) == {ids["wages"], ids["demolition"]}
    assert await _ids(db, CaseFilter(categories=("environment",)), rsj) == []
    assert await _ids(db, CaseFilter(), Scope.of([])) == []
    assert len(await _ids(db, CaseFilter(), Scope.of(None))) == 4


async def test_chinese_full_text_search(db: Database) -> None:
    ids = await _seed(db)
    assert await _ids(db, CaseFilter(q="拖欠工资")) == []  # not contiguous in the text
    assert await _ids(db, CaseFilter(q="拖欠")) == [ids["wages"]]
    assert set(await _ids(db, CaseFilter(q="拆迁"))) == {ids["demolition"], ids["noise"]}
    assert await _ids(db, CaseFilter(q="拆迁 补偿款")) == [ids["demolition"]]
    assert await _ids(db, CaseFilter(q="ＳＭＯＫＥ")) == [ids["pollution"]]  # full-width, case
    assert await _ids(db, CaseFilter(q="poll")) == [ids["pollution"]]  # word prefix
    assert set(await _ids(db, CaseFilter(q="噪"))) == {ids["noise"]}  # a lone character
    assert await _ids(db, CaseFilter(q='"; DROP TABLE cases; --')) == []


async def test_search_by_tracking_number_and_after_edits(db: Database) -> None:
    ids = await _seed(db)
    async with db.read() as conn:
        page = await list_cases(conn, CaseFilter(), Scope())
    number = next(c.tracking_no for c in page.rows if c.id == ids["noise"])
    spaced = f"{number[:8]} {number[8:14]}-{number[14:]}".lower()
    assert await _ids(db, CaseFilter(q=spaced)) == [ids["noise"]]
    async with db.transaction() as conn:
        doc = case_search_doc({"request": "医疗报销问题"})
        await conn.execute(update(cases).where(cases.c.id == ids["noise"]).values(search_doc=doc))
    assert await _ids(db, CaseFilter(q="噪音")) == []
    assert await _ids(db, CaseFilter(q="医疗报销")) == [ids["noise"]]


async def test_sort_and_pages(db: Database) -> None:
    ids = await _seed(db)
    newest_first = [ids["wages"], ids["demolition"], ids["pollution"], ids["noise"]]
    assert await _ids(db, CaseFilter()) == newest_first
    assert await _ids(db, CaseFilter(), sort=Sort("submitted_at", descending=False)) == list(
        reversed(newest_first)
    )
    by_due = await _ids(db, CaseFilter(), sort=Sort("due_at", descending=False))
    assert by_due == [ids["wages"], ids["demolition"], ids["noise"], ids["pollution"]]
    async with db.read() as conn:
        page = await list_cases(conn, CaseFilter(), Scope(), page=2, per_page=3)
        streamed = [c.id async for c in iter_cases(conn, CaseFilter(), Scope())]
    assert [c.id for c in page.rows] == [ids["noise"]]
    assert (page.total, page.pages) == (4, 2)
    assert streamed == newest_first
