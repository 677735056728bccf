"""The staff case list query: filters, scope, Chinese search, sort and pages (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pytest import MonkeyPatch
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.search import case_search_doc
from bot.storage import case_query
from bot.storage.case_query import CaseFilter, Clock, Scope, Sort, iter_cases, list_cases
from bot.storage.db import Database
from bot.storage.tables import cases
from tests.cases.lifecycle_support import make_case, make_lifecycle

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


async def test_count_is_capped_beyond_the_cap(db: Database, monkeypatch: MonkeyPatch) -> None:
    await _seed(db)
    monkeypatch.setattr(case_query, "COUNT_CAP", 2)
    async with db.read() as conn:
        many = await list_cases(conn, CaseFilter(), EVERYTHING, per_page=1, clock=CLOCK)
        exact = await list_cases(conn, CaseFilter(categories=("environment",)), EVERYTHING)
    assert (many.total, many.total_capped, many.pages, len(many.rows)) == (2, True, 2, 1)
    assert (exact.total, exact.total_capped) == (2, False)  # exactly at the cap: exact


async def test_scope_follows_departments_after_assign(db: Database) -> None:
    case_id = await _case(
        db, 5, "工资拖欠", department="330106-zjj", co_departments=["hz-rsj"], status="accepted"
    )
    labour = Scope.of({"labour_bureau"})
    street = Scope.of({"street_office"})
    old_co = Scope.of({"hz-rsj"})
    assert await _ids(db, CaseFilter(), old_co) == [case_id]
    assert await _ids(db, CaseFilter(), street) == []
    async with db.transaction() as conn:
        await make_lifecycle().apply(
            conn,
            case_id,
            "assign",
            actor="staff:li",
            now=NOW,
            department="labour_bureau",
            co_departments=["street_office"],
        )
    assert await _ids(db, CaseFilter(), labour) == [case_id]
    assert await _ids(db, CaseFilter(), street) == [case_id]  # co-handling only
    assert await _ids(db, CaseFilter(departments=("street_office",))) == [case_id]
    assert await _ids(db, CaseFilter(), old_co) == []
    assert await _ids(db, CaseFilter(), Scope.of({"330106-zjj"})) == []


async def test_both_page_plans_give_the_same_pages(db: Database, monkeypatch: MonkeyPatch) -> None:
    """Beyond the count cap the page walks the sort order (full text tested row by row);
    within it the matches are collected first: the pages must be the same either way."""
    await _seed(db)
    for n in range(10, 16):  # more cases sharing words, so pages and ties matter
        await _case(db, n % 3 + 4, "拖欠工资 拆迁", department="hz-rsj", due_at=NOW)
    queries = [
        (CaseFilter(), Sort()),
        (CaseFilter(q="拖欠"), Sort()),
        (CaseFilter(q="拖欠"), Sort("due_at", descending=False)),
        (CaseFilter(q="拖欠工资"), Sort("due_at")),
        (CaseFilter(q="拆迁", statuses=("submitted",)), Sort("tracking_no", descending=False)),
        (CaseFilter(q="拆迁"), Sort("status", descending=False)),
        (CaseFilter(q="poll"), Sort("updated_at")),
    ]
    scopes = [EVERYTHING, Scope.of(["hz-rsj"])]
    collected = {
        (i, s, p): await _ids(db, flt, scope, sort=sort, page=p, per_page=2)
        for i, (flt, sort) in enumerate(queries)
        for s, scope in enumerate(scopes)
        for p in (1, 2, 4)
    }
    monkeypatch.setattr(case_query, "COUNT_CAP", 0)  # every count is capped: the walk
    for (i, s, p), expected in collected.items():
        flt, sort = queries[i]
        walked = await _ids(db, flt, scopes[s], sort=sort, page=p, per_page=2)
        assert walked == expected, (flt, sort, s, p)
    assert collected[(1, 0, 1)]  # the search does find something


async def test_postgresql_work_mem_is_raised_for_the_list_only(db: Database) -> None:
    """The list raises work_mem for its own transaction (bitmaps stay exact), never lowers it."""
    if not db.is_postgres:
        return
    await _seed(db)

    async def work_mem(conn: AsyncConnection) -> int:
        sql = "SELECT pg_size_bytes(current_setting('work_mem'))"
        return int((await conn.exec_driver_sql(sql)).scalar_one())

    async with db.read() as conn:
        before = await work_mem(conn)
        await list_cases(conn, CaseFilter(q="拖欠"), EVERYTHING)
        assert await work_mem(conn) == max(before, case_query.LIST_WORK_MEM)
    async with db.read() as conn:
        assert await work_mem(conn) == before  # transaction-local
        await conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        await list_cases(conn, CaseFilter(q="拖欠"), EVERYTHING)
        assert await work_mem(conn) == 64 * 2**20
