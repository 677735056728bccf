"""The measures offices are assessed by (DOMAIN.md), each defined once, over a period.

A measure is two SQL predicates on ``cases``: its *base* (the cases it is measured over,
the denominator) and, for a rate, the *good* ones among them (the numerator). The
dashboard, the API, the department report and the case list's drill-down
(``CaseFilter.kpi``) all use these predicates, so a figure and the list behind it always
agree. Periods are [start, end) in office time; "now" decides whether an unmet deadline
has passed yet (a deadline still ahead is not counted either way).
"""

from __future__ import annotations

import calendar as months
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, exists, false, func, literal, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cases.calendar import Calendar
from bot.cases.clocks import ClockRule, due_at
from bot.cases.flags import FIRST_PETITION, GROUP_PETITION, REPEAT_PETITION, REPEATED_LATER
from bot.domain.statuses import RATINGS
from bot.storage.sql import json_contains_all
from bot.storage.tables import UTCDateTime, case_events, cases

Part = Literal["base", "good", "missed"]  # the denominator, the numerator, base minus good
PeriodKind = Literal["month", "quarter", "year", "custom"]
PARTS: tuple[Part, ...] = get_args(Part)
PERIOD_KINDS: tuple[PeriodKind, ...] = get_args(PeriodKind)
MAX_CUSTOM_DAYS = 1096  # a custom period of at most three years
# the events that decide on a petition (受理 / 不予受理 / 转送, or joining an earlier case)
DECISIONS = ("accept", "reject", "transfer", "link")
SATISFIED = RATINGS[:2]  # 满意, 基本满意


class PeriodError(ValueError):
    """A period that cannot be measured (the message says why)."""


@dataclass(frozen=True)
class Period:
    """A month, quarter, year or custom run of days: ``first`` to ``last``, inclusive."""

    kind: PeriodKind
    first: date
    last: date

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) in office time."""
        return _midnight(self.first, tz), _midnight(self.last + timedelta(days=1), tz)

    def shifted(self, steps: int) -> Period:
        """The period ``steps`` before (negative) or after this one, of the same kind."""
        if self.kind == "custom":
            length = (self.last - self.first).days + 1
            first = self.first + timedelta(days=length * steps)
            return Period("custom", first, first + timedelta(days=length - 1))
        size = {"month": 1, "quarter": 3, "year": 12}[self.kind]
        index = self.first.year * 12 + self.first.month - 1 + size * steps
        return period_of(self.kind, date(index // 12, index % 12 + 1, 1))


def period_of(kind: str, day: date, last: date | None = None) -> Period:
    """The ``kind`` period holding ``day``; a custom one runs from ``day`` to ``last``."""
    if kind == "month":
        first = day.replace(day=1)
        return Period("month", first, first.replace(day=months.monthrange(day.year, day.month)[1]))
    if kind == "quarter":
        first = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        end = period_of("month", first.replace(month=first.month + 2)).last
        return Period("quarter", first, end)
    if kind == "year":
        return Period("year", date(day.year, 1, 1), date(day.year, 12, 31))
    if kind != "custom":
        raise PeriodError(f"period is one of {', '.join(PERIOD_KINDS)}")
    if last is None or last < day:
        raise PeriodError("a custom period needs a last day on or after its first")
    if (last - day).days >= MAX_CUSTOM_DAYS:
        raise PeriodError(f"a custom period is at most {MAX_CUSTOM_DAYS} days")
    return Period("custom", day, last)


def period_between(first: date, last: date) -> Period:
    """The month, quarter or year that runs exactly from ``first`` to ``last``, else a
    custom period (raises PeriodError)."""
    for kind in PERIOD_KINDS[:-1]:
        candidate = period_of(kind, first)
        if (candidate.first, candidate.last) == (first, last):
            return candidate
    return period_of("custom", first, last)


@dataclass(frozen=True)
class AcceptanceClock:
    """受理期限: when the decision on a petition submitted on a given day is due.

    The deadline depends only on the day of submission and never comes earlier for a
    later day, so the petitions whose decision fell due in a period are one run of
    submission days, and each one's deadline is a CASE over those days.
    """

    rule: ClockRule
    calendar: Calendar
    tz: ZoneInfo

    def due(self, day: date) -> datetime:
        """The decision deadline of a petition submitted on ``day``."""
        return due_at(_midnight(day, self.tz), self.rule, self.calendar, self.tz)

    def submission_days(self, start: datetime, end: datetime) -> list[date]:
        """The submission days whose decision deadline falls in [start, end)."""
        day = start.astimezone(self.tz).date() - timedelta(days=3 * self.rule.days + 30)
        last = end.astimezone(self.tz).date()
        days = []
        while day <= last:
            if start <= self.due(day) < end:
                days.append(day)
            day += timedelta(days=1)
        return days


@dataclass(frozen=True)
class Window:
    """What a measure compares with: the period's bounds, now, and the acceptance clock."""

    start: datetime
    end: datetime
    now: datetime
    acceptance: AcceptanceClock
    dialect: str  # the database's: flag tests are dialect-specific

    @functools.cached_property
    def accept_days(self) -> list[date]:
        """The submission days of petitions whose decision fell due in the period."""
        return self.acceptance.submission_days(self.start, self.end)

    @functools.cached_property
    def accept_due(self) -> Any:
        """The decision deadline of each case submitted on one of ``accept_days``."""
        days, tz = self.accept_days, self.acceptance.tz
        if not days:
            return literal(self.start, UTCDateTime())  # never read: no case is in the run
        whens = [
            (cases.c.submitted_at < _midnight(day + timedelta(days=1), tz), self._due(day))
            for day in days[:-1]
        ]
        last = self._due(days[-1])
        return case(*whens, else_=last) if whens else last

    def flag(self, code: str) -> ColumnElement[bool]:
        """The case carries the flag."""
        return json_contains_all(self.dialect, cases.c.flags, [code])

    def _due(self, day: date) -> Any:
        return literal(self.acceptance.due(day), UTCDateTime())


# ------------------------------------------------------------------ the predicates

Predicate = Callable[[Window], ColumnElement[bool]]
_decided_at = (
    select(func.min(case_events.c.at))
    .where(case_events.c.case_id == cases.c.id, case_events.c.kind.in_(DECISIONS))
    .scalar_subquery()
)
_review_asked = exists().where(
    case_events.c.case_id == cases.c.id, case_events.c.kind == "request_review"
)
_answered_on_time = cases.c.answered_at <= cases.c.answer_due_at


def _in(column: Any, w: Window) -> ColumnElement[bool]:
    return and_(column >= w.start, column < w.end)


def _missed_by_now(done: Any, due: Any, w: Window) -> ColumnElement[bool]:
    """Not done and the deadline has passed, unless the petition was withdrawn before it."""
    withdrawn_before = and_(cases.c.closed_at.is_not(None), cases.c.closed_at <= due)
    return and_(done.is_(None), due < w.now, not_(withdrawn_before))


def submitted(w: Window) -> ColumnElement[bool]:
    """Registered in the period (信访总量)."""
    return _in(cases.c.submitted_at, w)


def answered(w: Window) -> ColumnElement[bool]:
    """Answered (处理意见书) in the period."""
    return _in(cases.c.answered_at, w)


def answer_fell_due(w: Window) -> ColumnElement[bool]:
    """The answer deadline (with extensions) is in the period, and the case was answered
    or has passed it unanswered."""
    due = cases.c.answer_due_at
    done = cases.c.answered_at
    return and_(_in(due, w), or_(done.is_not(None), _missed_by_now(done, due, w)))


def decision_fell_due(w: Window) -> ColumnElement[bool]:
    """The acceptance deadline is in the period, and the petition was decided or has
    passed it undecided."""
    days, tz = w.accept_days, w.acceptance.tz
    if not days:
        return false()  # nothing fell due
    run = and_(
        cases.c.submitted_at >= _midnight(days[0], tz),
        cases.c.submitted_at < _midnight(days[-1] + timedelta(days=1), tz),
    )
    decided = _decided_at
    return and_(run, or_(decided.is_not(None), _missed_by_now(decided, w.accept_due, w)))


def decided_in_time(w: Window) -> ColumnElement[bool]:
    """Accepted, rejected, transferred or linked by the acceptance deadline."""
    in_time: ColumnElement[bool] = _decided_at <= w.accept_due
    return in_time


def rated(w: Window) -> ColumnElement[bool]:
    """Rated by the petitioner in the period."""
    return _in(cases.c.rated_at, w)


def first_answered(w: Window) -> ColumnElement[bool]:
    """A first petition (初信初访) answered in the period."""
    return and_(w.flag(FIRST_PETITION), answered(w))


def settled_at_once(w: Window) -> ColumnElement[bool]:
    """Answered on time, never repeated (重复访) and no 复查 asked for."""
    return and_(_answered_on_time, not_(w.flag(REPEATED_LATER)), not_(_review_asked))


def open_at_end(w: Window) -> ColumnElement[bool]:
    """在办 when the period ends: accepted, neither answered nor withdrawn by then."""
    return and_(
        cases.c.accepted_at < w.end,
        or_(cases.c.answered_at.is_(None), cases.c.answered_at >= w.end),
        or_(cases.c.closed_at.is_(None), cases.c.closed_at >= w.end),
    )


def transferred(w: Window) -> ColumnElement[bool]:
    """转出: transferred to another authority in the period."""
    return exists().where(
        case_events.c.case_id == cases.c.id,
        case_events.c.kind == "transfer",
        _in(case_events.c.at, w),
    )


# ------------------------------------------------------------------ the measures


@dataclass(frozen=True)
class Measure:
    """A count (``good`` None) or a rate: good cases of the base."""

    code: str
    base: Predicate
    good: Predicate | None = None

    def clause(self, w: Window, part: Part = "base") -> ColumnElement[bool]:
        """The cases of one part of the measure: its base, its good or its missed cases."""
        base = self.base(w)
        if part == "base" or self.good is None:
            return base
        good = self.good(w)
        if part == "good":
            return and_(base, good)
        return and_(base, not_(func.coalesce(good, false())))  # unknown (NULL) is missed


MEASURES: dict[str, Measure] = {
    m.code: m
    for m in (
        Measure("total", submitted),  # 信访总量 (新收)
        Measure("on_time", answer_fell_due, lambda w: _answered_on_time),  # 按期办结率
        Measure("timely_acceptance", decision_fell_due, decided_in_time),  # 及时受理率
        Measure("satisfaction", rated, lambda w: cases.c.rating.in_(SATISFIED)),  # 满意率
        Measure("participation", answered, lambda w: cases.c.rated_at.is_not(None)),  # 参评率
        Measure("first_settled", first_answered, settled_at_once),  # 初信初访一次办结率
        Measure("repeat", submitted, lambda w: w.flag(REPEAT_PETITION)),  # 重复访
        Measure("group", submitted, lambda w: w.flag(GROUP_PETITION)),  # 集体访
        Measure("finished", answered),  # 已办结
        Measure("in_progress", open_at_end),  # 在办
        Measure("transferred", transferred),  # 转出
    )
}
RATES = ("on_time", "timely_acceptance", "first_settled", "satisfaction", "participation")
SHARES = ("repeat", "group")  # counted, with their share of the total
COUNTS = ("total", "finished", "in_progress", "transferred")


@dataclass(frozen=True)
class Figure:
    """One measure's numbers: ``numerator`` is None for a count."""

    code: str
    denominator: int
    numerator: int | None = None

    @property
    def value(self) -> float | None:
        """The rate in 0..1 (None for a count, or with nothing to measure yet)."""
        if self.numerator is None or not self.denominator:
            return None
        return self.numerator / self.denominator


@dataclass(frozen=True)
class KpiSlice:
    """The cases behind one part of one measure over a period: a case-list filter."""

    measure: str
    part: Part
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise PeriodError(f"measure is one of {', '.join(MEASURES)}")
        if self.part not in PARTS:
            raise PeriodError(f"part is one of {', '.join(PARTS)}")
        if self.end <= self.start:
            raise PeriodError("a period ends after it starts")

    def clause(self, now: datetime, acceptance: AcceptanceClock, dialect: str) -> Any:
        """The WHERE clause selecting the slice's cases."""
        window = Window(self.start, self.end, now, acceptance, dialect)
        return MEASURES[self.measure].clause(window, self.part)

    def as_json(self) -> dict[str, str]:
        """The slice for audit details."""
        return {
            "measure": self.measure,
            "part": self.part,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


def window(period: Period, now: datetime, acceptance: AcceptanceClock, dialect: str) -> Window:
    """The window of a period in office time."""
    start, end = period.bounds(acceptance.tz)
    return Window(start, end, now, acceptance, dialect)


def slice_of(period: Period, measure: str, part: Part, tz: ZoneInfo) -> KpiSlice:
    """The drill-down filter of one part of a measure over a period."""
    start, end = period.bounds(tz)
    return KpiSlice(measure, part, start, end)


async def count(
    conn: AsyncConnection,
    w: Window,
    where: list[Any],
    *,
    by: Any = None,
) -> dict[Any, dict[str, Figure]]:
    """Every measure's figures in one pass over the cases matching ``where``, grouped by
    ``by`` (a column), or under the key None when not grouped."""
    columns: list[Any] = []
    for m in MEASURES.values():
        columns.append(func.count().filter(m.clause(w)))
        if m.good is not None:
            columns.append(func.count().filter(m.clause(w, "good")))
    keys = [by] if by is not None else []
    query = select(*keys, *columns).select_from(cases).where(*where)
    if by is not None:
        query = query.group_by(by)
    out: dict[Any, dict[str, Figure]] = {}
    for row in await conn.execute(query):
        values = list(row)
        key = values.pop(0) if by is not None else None
        figures: dict[str, Figure] = {}
        for m in MEASURES.values():
            base = int(values.pop(0))
            good = int(values.pop(0)) if m.good is not None else None
            figures[m.code] = Figure(m.code, base, good)
        out[key] = figures
    if by is None and None not in out:
        out[None] = empty()
    return out


def empty() -> dict[str, Figure]:
    """Every measure at zero."""
    return {m.code: Figure(m.code, 0, 0 if m.good is not None else None) for m in MEASURES.values()}


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tz)


__all__ = [
    "COUNTS",
    "MEASURES",
    "PARTS",
    "PERIOD_KINDS",
    "RATES",
    "SHARES",
    "AcceptanceClock",
    "Figure",
    "KpiSlice",
    "Measure",
    "Part",
    "Period",
    "PeriodError",
    "PeriodKind",
    "Window",
    "count",
    "period_between",
    "period_of",
    "slice_of",
    "window",
]
