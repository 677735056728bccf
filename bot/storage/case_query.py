"""The staff case list: filters, Chinese full-text search, department scope, sort, pages.

One query builder serves the console, the JSON API and the exports, so the three can
never disagree about which cases a filter (or a staff member's scope) selects.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    false,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cases.kpis import AcceptanceClock, KpiSlice
from bot.domain.search import fts5_query, parse_query, tsquery
from bot.domain.statuses import OPEN_STATUSES
from bot.domain.tracking import parse_tracking_no
from bot.storage.cases import CaseRow, _case
from bot.storage.sql import json_contains_all
from bot.storage.tables import case_departments, cases, cases_search_tsv

SORTS = ("submitted_at", "due_at", "updated_at", "tracking_no", "status")
MAX_PER_PAGE = 200
COUNT_CAP = 10_000  # the list counts at most this many matches ("10 000+" beyond)
# PostgreSQL: a bitmap of a common term's matches in a million cases outgrows the default
# 4 MB work_mem and goes lossy, and a phrase is then rechecked on every row of every lossy
# page (3x slower). Raised for the list's transaction only, never lowered.
# https://www.postgresql.org/docs/current/runtime-config-resource.html#GUC-WORK-MEM
LIST_WORK_MEM = 16 * 2**20
_WORK_MEM = text(
    "SELECT set_config('work_mem', :mem, true) "
    "WHERE pg_size_bytes(current_setting('work_mem')) < :floor"
).bindparams(mem=f"{LIST_WORK_MEM // 2**20}MB", floor=LIST_WORK_MEM)
# what a CaseRow needs: every column but the search documents (read only by the index)
LIST_COLUMNS = tuple(c for c in cases.c if c.name not in ("search_doc", "search_pii"))
Deadline = Literal["", "overdue", "near_due"]


@dataclass(frozen=True)
class CaseFilter:
    """What the staff list asks for; empty fields do not filter."""

    statuses: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()  # lead or co-handling department
    channels: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()  # every one of these flags
    deadline: Deadline = ""  # overdue / near due (open cases only)
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None  # exclusive
    q: str = ""  # full text (Chinese bigrams, words) or a tracking number
    kpi: KpiSlice | None = None  # the cases behind a dashboard figure (bot.cases.kpis)
    tracking_nos: tuple[str, ...] = ()  # canonical numbers: a selection of the list
    handler: str | None = None  # a named handler's login; "" = no named handler yet


@dataclass(frozen=True)
class Sort:
    """Sort column and direction."""

    by: str = "submitted_at"
    descending: bool = True

    def __post_init__(self) -> None:
        if self.by not in SORTS:
            raise ValueError(f"sort by one of {', '.join(SORTS)}")


@dataclass(frozen=True)
class Clock:
    """What deadline filters compare with: now, the end of the near-due window, and the
    acceptance clock (for KPI drill-downs)."""

    now: datetime
    near_due_until: datetime
    acceptance: AcceptanceClock | None = None


@dataclass(frozen=True)
class CasePage:
    """One page of the filtered list and the number of matching cases.

    ``total`` is exact up to ``COUNT_CAP``; beyond it ``total`` is the cap and
    ``total_capped`` is set (counting a million matches on every page costs a full scan).
    """

    rows: list[CaseRow]
    total: int
    page: int
    per_page: int
    total_capped: bool = False

    @property
    def pages(self) -> int:
        """How many pages the filter has."""
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class Scope:
    """The departments whose cases a staff member sees (``None`` means all), and whether
    their search reads personal data (``personal``: staff with case.pii)."""

    departments: frozenset[str] | None = field(default=None)
    personal: bool = False

    @classmethod
    def of(cls, departments: Collection[str] | None, *, personal: bool = False) -> Scope:
        """A scope from a staff member's departments (None: everything)."""
        return cls(None if departments is None else frozenset(departments), personal)


def scope_clause(
    conn: AsyncConnection, scope: Scope, *, walk: bool = False
) -> ColumnElement[bool] | None:
    """The WHERE clause restricting cases to a scope (None when it sees everything)."""
    if scope.departments is None:
        return None
    deps = sorted(scope.departments)
    if not deps:
        return false()
    return in_departments(deps, _case_id(conn, walk))


def in_departments(departments: Collection[str], case_id: Any = cases.c.id) -> ColumnElement[bool]:
    """The case's lead or a co-handling department is one of ``departments`` (indexed)."""
    return case_id.in_(  # type: ignore[no-any-return]
        select(case_departments.c.case_id).where(
            case_departments.c.department.in_(sorted(departments))
        )
    )


def _case_id(conn: AsyncConnection, walk: bool) -> Any:
    # SQLite looks cases up by rowid for ``id IN (subquery)`` (and sorts them all) unless
    # the column is an expression: a unary + makes it walk the sort order instead.
    # https://www.sqlite.org/optoverview.html#disqualifying_where_clause_terms_using_unary_
    if walk and conn.dialect.name == "sqlite":
        return literal_column("+cases.id")
    return cases.c.id


def _text_clause(
    conn: AsyncConnection, query: str, *, personal: bool, walk: bool = False
) -> ColumnElement[bool] | None:
    """Full text: the public search document, and the personal one when ``personal``."""
    number = parse_tracking_no(query)
    if number.outcome == "valid":
        return cases.c.tracking_no == number.canonical
    terms = parse_query(query)
    if not terms:
        return None
    if conn.dialect.name == "postgresql":
        simple: ColumnElement[str] = literal_column("'simple'")  # inline: a regconfig constant
        ts = func.to_tsquery(simple, tsquery(terms, personal=personal))
        if walk:  # the function behind @@: the same test, which no index answers
            return func.ts_match_vq(cases_search_tsv, ts, type_=Boolean)
        match: ColumnElement[bool] = cases_search_tsv.op("@@")(ts)
        return match
    return _case_id(conn, walk).in_(  # type: ignore[no-any-return]
        select(literal_column("rowid"))
        .select_from(text("cases_fts"))
        .where(text("cases_fts MATCH :fts").bindparams(fts=fts5_query(terms, personal=personal)))
    )


def where_clauses(
    conn: AsyncConnection,
    flt: CaseFilter,
    scope: Scope,
    clock: Clock | None = None,
    *,
    walk: bool = False,
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a filter within a scope.

    ``walk``: the same matches, tested row by row while walking the sort order instead of
    looked up through the full-text index or by id (cheaper when matches are common).
    """
    where: list[ColumnElement[bool]] = []
    scoped = scope_clause(conn, scope, walk=walk)
    scope_or_departments = scoped is not None or bool(flt.departments)
    if scoped is not None:
        where.append(scoped)
    for column, values in (
        (cases.c.status, flt.statuses),
        (cases.c.category, flt.categories),
        (cases.c.region, flt.regions),
        (cases.c.channel, flt.channels),
    ):
        if values:
            where.append(column.in_(list(values)))
    if flt.departments:
        where.append(in_departments(flt.departments, _case_id(conn, walk)))
    if flt.tracking_nos:
        where.append(cases.c.tracking_no.in_(list(flt.tracking_nos)))
    if flt.handler is not None:
        where.append(cases.c.handler == flt.handler)
    if flt.flags:
        where.append(json_contains_all(conn.dialect.name, cases.c.flags, flt.flags))
    if flt.submitted_from is not None:
        where.append(cases.c.submitted_at >= flt.submitted_from)
    if flt.submitted_to is not None:
        where.append(cases.c.submitted_at < flt.submitted_to)
    if flt.deadline:
        if clock is None:
            raise ValueError("a deadline filter needs the clock")
        where.append(cases.c.status.in_(sorted(OPEN_STATUSES)))
        if flt.deadline == "overdue":
            where.append(cases.c.due_at < clock.now)
        else:
            where.append(and_(cases.c.due_at >= clock.now, cases.c.due_at <= clock.near_due_until))
    if flt.kpi is not None:
        if clock is None or clock.acceptance is None:
            raise ValueError("a KPI filter needs the clock with the acceptance clock")
        where.append(flt.kpi.clause(clock.now, clock.acceptance, conn.dialect.name))
    if flt.q.strip():
        # PostgreSQL estimates a phrase as the product of its bigrams (far too rare), so it
        # would fetch every match of a common term and then check the departments; within
        # departments, testing their cases row by row costs at most the scope's size
        by_row = walk or (conn.dialect.name == "postgresql" and scope_or_departments)
        clause = _text_clause(conn, flt.q, personal=scope.personal, walk=by_row)
        if clause is not None:
            where.append(clause)
    return where


def filtered(
    conn: AsyncConnection, flt: CaseFilter, scope: Scope, clock: Clock | None = None
) -> Select[Any]:
    """SELECT of the matching cases (all columns), unsorted: for exports and counts."""
    return select(cases).where(*where_clauses(conn, flt, scope, clock))


async def list_cases(
    conn: AsyncConnection,
    flt: CaseFilter,
    scope: Scope,
    *,
    sort: Sort = Sort(),
    page: int = 1,
    per_page: int = 50,
    clock: Clock | None = None,
) -> CasePage:
    """One page of the filtered, sorted case list with the (capped) count of matches.

    The count reads the ids of at most ``COUNT_CAP + 1`` matches, and decides the page's
    plan. Within the cap, the page is those ids' rows, sorted. Beyond it, matches are
    common: the page walks the sort column's index, tests each row, and stops once it
    has the page (left to themselves, the databases would look every match up by id or
    through the full-text index and sort them all: they underestimate how common a
    phrase is, and cannot know how many cases a department scope holds).
    """
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    if conn.dialect.name == "postgresql":
        await conn.execute(_WORK_MEM)
    where = where_clauses(conn, flt, scope, clock)
    query = select(cases.c.id).where(*where).limit(COUNT_CAP + 1)
    ids = [int(i) for i in (await conn.execute(query)).scalars()]
    capped = len(ids) > COUNT_CAP
    if capped:
        listed = select(*LIST_COLUMNS).where(*where_clauses(conn, flt, scope, clock, walk=True))
    else:
        listed = select(*LIST_COLUMNS).where(_id_in(conn, ids))
    listed = listed.order_by(*_order(sort)).limit(per_page).offset((page - 1) * per_page)
    rows = (await conn.execute(listed)).all() if ids else []
    total = COUNT_CAP if capped else len(ids)
    return CasePage([_case(r) for r in rows], total, page, per_page, total_capped=capped)


def _id_in(conn: AsyncConnection, ids: list[int]) -> ColumnElement[bool]:
    """``cases.id`` is one of ``ids``, as one parameter (an array; SQLite: a JSON list)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return cases.c.id == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    each = func.json_each(bindparam("ids", json.dumps(ids), type_=Text)).table_valued("value")
    return cases.c.id.in_(select(each.c.value))


async def iter_cases(
    conn: AsyncConnection,
    flt: CaseFilter,
    scope: Scope,
    *,
    sort: Sort = Sort(),
    clock: Clock | None = None,
) -> AsyncIterator[CaseRow]:
    """Every matching case in list order, streamed (exports of any size)."""
    query = select(cases).where(*where_clauses(conn, flt, scope, clock)).order_by(*_order(sort))
    result = await conn.stream(query)
    async for row in result:
        yield _case(row)


def _order(sort: Sort) -> list[Any]:
    column = cases.c[sort.by]
    order = column.desc() if sort.descending else column.asc()
    if sort.by == "due_at":  # cases without a deadline last, whichever the direction
        order = order.nulls_last()
    return [order, cases.c.id.desc() if sort.descending else cases.c.id.asc()]
