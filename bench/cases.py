"""Case queries at scale (target 5): status by tracking number, and the staff case list.

A generator bulk-inserts N cases (default 1 000 000 in the long form, 100 000 in the
short one) for N/4 citizens, with realistic spreads of status, region, category,
department, dates and petition text. Then, inside one process (no HTTP):

- the citizen's status query, ``storage.cases.by_tracking_no``: p50/p99 over random
  numbers; baseline ratio against a primary-key lookup of one case on the same
  connection (the floor any lookup pays);
- the console's filtered list, ``storage.case_query.list_cases`` (count + one page):
  p95 over typical filters, all departments and one department's scope.

``python -m bench.cases [--long] [--db sqlite|postgresql|both] [--cases N]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import common

STATUSES = [  # weights: most cases are closed, a working set is open
    ("closed", 60),
    ("answered", 10),
    ("in_progress", 12),
    ("assigned", 6),
    ("accepted", 4),
    ("submitted", 5),
    ("rejected", 2),
    ("extended", 1),
]
REGIONS = [f"R{n:02d}" for n in range(1, 31)]
CATEGORIES = [
    "labour",
    "land",
    "housing",
    "environment",
    "social_security",
    "traffic",
    "education",
    "medical",
    "public_security",
    "other",
]
DEPARTMENTS = [f"D{n:02d}" for n in range(1, 41)]
TEXTS = [
    "公司拖欠工资三个月，多次讨要未果，请求协调支付",
    "小区旁工地夜间施工噪音扰民，影响休息",
    "村里土地征收补偿款至今未发放到位",
    "楼上住户长期漏水，物业不处理",
    "医保报销比例与政策规定不符，申请复核",
    "道路积水严重，雨天无法通行，请尽快修缮",
    "学校乱收费，要求退还补课费用",
    "养殖场污水直排河道，污染环境",
]


async def generate(url: str, n: int, seed: int = 7) -> float:
    """Insert n cases (and n/4 contacts) in bulk; returns the seconds it took.

    Rows go through each column type's own bind processor (so they are stored exactly as
    the application stores them), then in big batches: ``executemany`` on SQLite (the FTS5
    triggers index each row), ``COPY`` on PostgreSQL (its indexes, generated columns and
    GIN lists are maintained as for any insert). Nothing is reused between runs.
    """
    from bot.storage.db import Database
    from bot.storage.migrate import upgrade
    from bot.storage.tables import case_departments, cases, contacts

    rng = random.Random(seed)
    db = Database(url)
    await upgrade(db)
    started = time.perf_counter()
    citizens = max(1, n // 4)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    try:
        chunk = 50_000
        for start in range(0, citizens, chunk):
            await _bulk(
                db,
                contacts,
                [
                    {"id": i + 1, "channel": "wechat", "address": f"o-gen-{i}", "created_at": now}
                    for i in range(start, min(citizens, start + chunk))
                ],
            )
        seen: set[str] = set()
        # ids follow submission time, as they do in production (the rows' order on disk)
        ages = sorted((rng.randrange(0, 2 * 365 * 24 * 60) for _ in range(n)), reverse=True)
        for start in range(0, n, chunk):
            ids = range(start, min(n, start + chunk))
            rows = _case_rows(rng, ids, ages, citizens, now, seen)
            await _bulk(
                db,
                cases,
                rows,
                then=(
                    case_departments,
                    [
                        {"case_id": r["id"], "department": r["department"], "role": "lead"}
                        for r in rows
                    ],
                ),
            )
        async with db.transaction() as conn:
            if db.is_postgres:  # ids were given explicitly: move the sequences past them
                for table in (contacts, cases):
                    await conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )
        if db.is_postgres:
            async with db.engine.connect() as conn:  # autovacuum's work, done now
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            async with db.transaction() as conn:
                await conn.exec_driver_sql("ANALYZE")
    finally:
        await db.dispose()
    return time.perf_counter() - started


def _case_rows(
    rng: random.Random,
    ids: range,
    ages: list[int],
    citizens: int,
    now: datetime,
    seen: set[str],
) -> list[dict[str, Any]]:
    from bot.domain.search import case_pii_doc, case_search_doc, tracking_doc
    from bot.domain.tracking import new_tracking_no

    statuses = [s for s, w in STATUSES for _ in range(w)]
    # case_search_doc(answers, tn) is the number's document followed by the answers' one;
    # the answers come from a few texts, so their documents are computed once per call
    # (the personal document, a name and a phone, per case)
    answer_docs: dict[str, str] = {}
    rows = []
    for i in ids:
        submitted = now - timedelta(minutes=ages[i])
        while True:
            tn = new_tracking_no(submitted.date(), f"{rng.randrange(10**6):06d}")
            if tn not in seen:
                seen.add(tn)
                break
        status = rng.choice(statuses)
        text = rng.choice(TEXTS)
        answers: dict[str, object] = {"request": text, "facts": text + "，详见附件", "name": "某某"}
        if text not in answer_docs:
            answer_docs[text] = case_search_doc(answers)
            assert case_search_doc(answers, tn) == tracking_doc(tn) + " " + answer_docs[text]
        rows.append(
            {
                "id": i + 1,
                "tracking_no": tn,
                "contact_id": 1 + i % citizens,
                "channel": rng.choice(["wechat", "wechat", "telegram", "web"]),
                "status": status,
                "lang": "zh",
                "form_id": "petition",
                "form_version": 1,
                "appeal_type": "申诉求决",
                "category": rng.choice(CATEGORIES),
                "region": rng.choice(REGIONS),
                "name": "某某",
                "phone": f"139{rng.randrange(10**8):08d}",
                "people_count": 1,
                "answers": answers,
                "flags": ["repeat"] if rng.random() < 0.1 else [],
                "submitted_at": submitted,
                "updated_at": submitted,
                "due_at": None
                if status in ("closed", "rejected")
                else submitted + timedelta(days=rng.choice([15, 60, 90])),
                "department": rng.choice(DEPARTMENTS),
                "co_departments": [],
                "search_doc": tracking_doc(tn) + " " + answer_docs[text],
            }
        )
        rows[-1]["search_pii"] = case_pii_doc(answers, rows[-1]["phone"])
    return rows


async def _bulk(
    db: Any,
    table: Any,
    rows: list[dict[str, Any]],
    then: tuple[Any, list[dict[str, Any]]] | None = None,
) -> None:
    """Insert rows (and then ``then``'s rows) in one transaction, as fast as the driver can."""
    async with db.transaction() as conn:
        for tbl, batch in [(table, rows), *([then] if then else [])]:
            dialect = conn.dialect
            names = list(batch[0])
            procs = [tbl.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in names]
            records = [
                tuple(p(r[k]) if p is not None else r[k] for k, p in zip(names, procs, strict=True))
                for r in batch
            ]
            if db.is_postgres:
                raw = (await conn.get_raw_connection()).driver_connection
                assert raw is not None
                await raw.copy_records_to_table(tbl.name, records=records, columns=names)
            else:
                marks = ", ".join("?" for _ in names)
                await conn.exec_driver_sql(
                    f"INSERT INTO {tbl.name} ({', '.join(names)}) VALUES ({marks})", records
                )


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def measure(url: str, lookups: int, repeats: int, only: str = "") -> dict[str, Any]:
    """Status lookups and case-list queries, timed inside this process."""
    from sqlalchemy import func, select

    from bot.storage import cases as case_store
    from bot.storage.case_query import (
        COUNT_CAP,
        CaseFilter,
        Clock,
        Scope,
        Sort,
        list_cases,
    )
    from bot.storage.db import Database
    from bot.storage.tables import cases

    db = Database(url)
    rng = random.Random(11)
    try:
        async with db.read() as conn:
            total = int((await conn.execute(select(func.count()).select_from(cases))).scalar_one())
            sample = [
                r.tracking_no
                for r in await conn.execute(
                    select(cases.c.tracking_no).where(
                        cases.c.id.in_([rng.randrange(1, total + 1) for _ in range(lookups)])
                    )
                )
            ]
        pk_times: list[float] = []
        tn_times: list[float] = []
        async with db.read() as conn:
            for tn in sample:  # warm the connection and statement caches first
                await case_store.by_tracking_no(conn, tn)
                break
            for tn in sample:
                t = time.perf_counter()
                await conn.execute(select(cases.c.id).where(cases.c.id == rng.randrange(1, total)))
                pk_times.append(time.perf_counter() - t)
                t = time.perf_counter()
                found = await case_store.by_tracking_no(conn, tn)
                tn_times.append(time.perf_counter() - t)
                assert found is not None
        now = datetime(2026, 11, 20, tzinfo=UTC)
        clock = Clock(now, now + timedelta(days=3))
        open_statuses = ("submitted", "accepted", "assigned", "in_progress", "extended")
        day = timedelta(days=1)
        last_page = COUNT_CAP // 50  # the last page the console links to ("10 000+" matches)
        # every kind of filter, sort and page the console and the API issue (one each)
        filters: dict[str, tuple[CaseFilter, Sort, int]] = {
            "all, newest first": (CaseFilter(), Sort(), 1),
            f"all, newest first, page {last_page}": (CaseFilter(), Sort(), last_page),
            "all, oldest first": (CaseFilter(), Sort(descending=False), 1),
            "all by deadline": (CaseFilter(), Sort("due_at", False), 1),
            "all by deadline, latest first": (CaseFilter(), Sort("due_at"), 1),
            "all by last change": (CaseFilter(), Sort("updated_at"), 1),
            "all by tracking number": (CaseFilter(), Sort("tracking_no", False), 1),
            "all by status": (CaseFilter(), Sort("status", False), 1),
            "open cases": (CaseFilter(statuses=open_statuses), Sort(), 1),
            "submitted (new), oldest first": (
                CaseFilter(statuses=("submitted",)),
                Sort(descending=False),
                1,
            ),
            "open cases of one department": (
                CaseFilter(statuses=open_statuses, departments=("D07",)),
                Sort(),
                1,
            ),
            "overdue": (CaseFilter(deadline="overdue"), Sort("due_at", False), 1),
            "near due": (CaseFilter(deadline="near_due"), Sort("due_at", False), 1),
            "one category": (CaseFilter(categories=("labour",)), Sort(), 1),
            "one channel": (CaseFilter(channels=("telegram",)), Sort(), 1),
            "flag repeat": (CaseFilter(flags=("repeat",)), Sort(), 1),
            "last 7 days": (CaseFilter(submitted_from=now - 7 * day), Sort(), 1),
            "one day a year ago": (
                CaseFilter(submitted_from=now - 365 * day, submitted_to=now - 364 * day),
                Sort(),
                1,
            ),
            "region + category, last 90 days": (
                CaseFilter(
                    regions=("R03",),
                    categories=("labour",),
                    submitted_from=now - 90 * day,
                ),
                Sort(),
                1,
            ),
            "full text 拖欠工资": (CaseFilter(q="拖欠工资"), Sort(), 1),
            f"full text 拖欠工资, page {last_page}": (CaseFilter(q="拖欠工资"), Sort(), last_page),
            "full text 拖欠工资, by deadline": (
                CaseFilter(q="拖欠工资"),
                Sort("due_at", False),
                1,
            ),
            "full text 拖欠工资 + open": (
                CaseFilter(q="拖欠工资", statuses=open_statuses),
                Sort(),
                1,
            ),
            "full text 拖欠 + region": (CaseFilter(q="拖欠", regions=("R05",)), Sort(), 1),
            "full text, no match (拆迁)": (CaseFilter(q="拆迁"), Sort(), 1),
            "tracking number": (CaseFilter(q=sample[0]), Sort(), 1),
            "tracking number part": (CaseFilter(q=sample[0][8:14]), Sort(), 1),
            "phone, last 4 digits": (CaseFilter(q="5678"), Sort(), 1),
        }
        scopes = {
            "all departments": Scope.of(None, personal=True),
            "all departments, no case.pii": Scope.of(None),
            "one department": Scope.of({"D12"}, personal=True),
        }
        list_rows = []
        for scope_name, scope in scopes.items():
            for name, (flt, sort, page_no) in filters.items():
                if only and only not in name:
                    continue
                times: list[float] = []
                async with db.read() as conn:
                    for _ in range(repeats):
                        t = time.perf_counter()
                        page = await list_cases(
                            conn, flt, scope, sort=sort, page=page_no, clock=clock
                        )
                        times.append(time.perf_counter() - t)
                list_rows.append(
                    {
                        "query": f"{name} [{scope_name}]",
                        "matches": page.total,
                        "p50_ms": round(statistics.median(times) * 1000, 1),
                        "p95_ms": round(_pct(times, 0.95) * 1000, 1),
                    }
                )
        kpi_rows = await _kpi_times(db, scopes, now, repeats, list_rows)
        return {
            "cases": total,
            "kpis": kpi_rows,
            "status_p50_ms": round(statistics.median(tn_times) * 1000, 3),
            "status_p99_ms": round(_pct(tn_times, 0.99) * 1000, 3),
            "pk_p99_ms": round(_pct(pk_times, 0.99) * 1000, 3),
            "status_ratio_to_pk": round(
                statistics.median(pk_times) / statistics.median(tn_times), 3
            ),
            "list": list_rows,
        }
    finally:
        await db.dispose()


CONFIG = Path(__file__).resolve().parent.parent / "config"


async def _kpi_times(
    db: Any, scopes: dict[str, Any], now: datetime, repeats: int, list_rows: list[Any]
) -> list[dict[str, Any]]:
    """The dashboard's assessed measures (every figure, one pass) per period and scope, with
    the ratio to the plain first page of the case list in the same scope (same run)."""
    from zoneinfo import ZoneInfo

    from bot.cases import kpis
    from bot.cases.calendar import load_calendar
    from bot.cases.clocks import load_clocks
    from bot.storage.case_query import scope_clause

    tz = ZoneInfo("Asia/Shanghai")
    acceptance = kpis.AcceptanceClock(load_clocks(CONFIG).acceptance, load_calendar(CONFIG), tz)
    baseline = {r["query"]: r["p50_ms"] for r in list_rows}
    rows = []
    for scope_name, scope in scopes.items():
        for kind in ("month", "year"):
            period = kpis.period_of(kind, now.astimezone(tz).date())
            times: list[float] = []
            async with db.read() as conn:
                w = kpis.window(period, now, acceptance, conn.dialect.name)
                where = [c for c in [scope_clause(conn, scope)] if c is not None]
                for _ in range(repeats):
                    t = time.perf_counter()
                    await kpis.count(conn, w, where)
                    times.append(time.perf_counter() - t)
            p50 = statistics.median(times) * 1000
            base = baseline.get(f"all, newest first [{scope_name}]")
            rows.append(
                {
                    "kpis": f"{kind} [{scope_name}]",
                    "p50_ms": round(p50, 1),
                    "p95_ms": round(_pct(times, 0.95) * 1000, 1),
                    "ratio_to_list": round(p50 / base, 1) if base else None,
                }
            )
    return rows


def run(
    database: str, n: int, lookups: int, repeats: int, url: str = "", only: str = ""
) -> dict[str, Any]:
    """Generate and measure on one database (``url``: an existing one, generated if empty)."""
    with common.workdir() as tmp, ExitStack() as stack:
        gen_s = 0.0
        if url:
            if asyncio.run(_count(url)) == 0:
                gen_s = asyncio.run(generate(url, n))
        else:
            if database == "sqlite":
                url = f"sqlite+aiosqlite:///{tmp / 'cases.sqlite3'}"
            else:
                url = stack.enter_context(common.pg_database())
            gen_s = asyncio.run(generate(url, n))
        result = asyncio.run(measure(url, lookups, repeats, only))
        worst = max(result["list"], key=lambda r: r["p95_ms"])
        return {
            "benchmark": "cases",
            "db": database,
            "cases": result["cases"],
            "generate_s": round(gen_s, 1),
            "db_mb": asyncio.run(_size_mb(url)),
            "status_p50_ms": result["status_p50_ms"],
            "status_p99_ms": result["status_p99_ms"],
            "pk_p99_ms": result["pk_p99_ms"],
            "status_met": result["status_p99_ms"] <= 5.0,
            "list_worst_p95_ms": worst["p95_ms"],
            "list_worst_query": worst["query"],
            "list_met": worst["p95_ms"] <= 200.0,
            "list": result["list"],
            "kpis": result["kpis"],
        }


async def _size_mb(url: str) -> int:
    """The database's size on disk (SQLite: the file and its WAL)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from bot.storage.db import Database

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        files = [Path(f"{parsed.database}{suffix}") for suffix in ("", "-wal")]
        return sum(f.stat().st_size for f in files if f.exists()) // 2**20
    db = Database(url)
    try:
        async with db.read() as conn:
            size = await conn.exec_driver_sql("SELECT pg_database_size(current_database())")
            return int(size.scalar_one()) // 2**20
    finally:
        await db.dispose()


async def _count(url: str) -> int:
    from sqlalchemy import func, select

    from bot.storage.db import Database
    from bot.storage.migrate import upgrade
    from bot.storage.tables import cases

    db = Database(url)
    try:
        await upgrade(db)
        async with db.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(cases))).scalar_one())
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.cases", description=__doc__)
    parser.add_argument("--long", action="store_true", help="1 000 000 cases, both databases")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--cases", type=int)
    parser.add_argument(
        "--url", default="", help="measure this database (kept; generated first if empty)"
    )
    parser.add_argument("--query", default="", help="only the list queries whose name has this")
    args = parser.parse_args(argv)
    repeats = 20 if args.long else 10
    n = args.cases or (1_000_000 if args.long else 100_000)
    db = args.db or ("both" if args.long else "sqlite")
    rows = []
    if args.url:
        database = "postgresql" if args.url.startswith("postgresql") else "sqlite"
        rows.append(run(database, n, 2000, repeats, url=args.url, only=args.query))
    for database in [] if args.url else common.databases(db):
        rows.append(run(database, n, 2000, repeats, only=args.query))
    common.report(
        "cases",
        [{k: v for k, v in r.items() if k not in ("list", "kpis")} for r in rows],
        {"lists": {r["db"]: r["list"] for r in rows}, "kpis": {r["db"]: r["kpis"] for r in rows}},
    )
    for r in rows:
        for q in r["list"]:
            print(
                f"    {r['db']:10s} {q['query']:55s} matches={q['matches']:>7} "
                f"p50={q['p50_ms']:>7} ms p95={q['p95_ms']:>7} ms"
            )
        for k in r["kpis"]:
            print(
                f"    {r['db']:10s} KPIs {k['kpis']:50s} p50={k['p50_ms']:>7} ms "
                f"p95={k['p95_ms']:>7} ms  ×{k['ratio_to_list']} the list's first page"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
