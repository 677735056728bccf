"""The case list's GET parameters: one parser for the list page and its exports."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from multidict import MultiMapping

from bot.cases.kpis import KpiSlice, Part, PeriodError, period_between, slice_of
from bot.staff.labels import Labels
from bot.storage.case_query import MAX_PER_PAGE, SORTS, CaseFilter, Deadline, Sort
from bot.web.api_models import plausible_day
from bot.web.i18n import translate

PER_PAGE_CHOICES = (25, 50, 100, 200)
DEFAULT_PER_PAGE = 50
MAX_VALUES = 100  # values of one multi-valued parameter
MAX_Q = 200
# list columns that sort, and the sort key behind them
SORTABLE = {key: key for key in SORTS if key != "updated_at"}
KPI_PARAMS = ("kpi", "kpi_part", "kpi_from", "kpi_to")  # a drill-down from the dashboard
LIST_FILTERS = ("status", "category", "region", "department", "channel", "flag")
# the orders staff pick on the list page (column headers sort by the others too)
LIST_SORTS = ("updated_at", "due_at", "submitted_at")


@dataclass(frozen=True)
class ListQuery:
    """A parsed case-list request: the filter, the sort, the page, and what was ignored."""

    flt: CaseFilter
    sort: Sort
    page: int
    per_page: int
    params: list[tuple[str, str]]  # the accepted parameters, for links and the form
    errors: list[str] = field(default_factory=list)  # values ignored (shown to staff)

    def values(self, name: str) -> list[str]:
        """Every accepted value of a parameter."""
        return [v for k, v in self.params if k == name]

    def value(self, name: str) -> str:
        """The first accepted value of a parameter, or ""."""
        found = self.values(name)
        return found[0] if found else ""

    def query_string(self, **changes: str | None) -> str:
        """The parameters with some replaced (None removes), URL-encoded."""
        kept = [(k, v) for k, v in self.params if k not in changes]
        kept += [(k, v) for k, v in changes.items() if v is not None]
        return urllib.parse.urlencode(kept)

    def without(self, name: str, value: str | None = None) -> str:
        """The parameters without one value of a filter (every value when None), URL-encoded,
        back on the first page: the link of a filter chip's remove button."""
        names = set(KPI_PARAMS) if name == "kpi" else {name}
        kept = [
            (k, v)
            for k, v in self.params
            if not (k in names and (value is None or v == value)) and k != "page"
        ]
        return urllib.parse.urlencode(kept)

    def sort_link(self, column: str) -> tuple[str, str] | None:
        """(URL, css class) sorting the list by a column, or None if it does not sort."""
        key = SORTABLE.get(column)
        if key is None:
            return None
        current = self.sort.by == key
        descending = not self.sort.descending if current else key != "due_at"
        css = ("desc" if self.sort.descending else "asc") if current else ""
        qs = self.query_string(sort=key, dir="desc" if descending else "asc", page=None)
        return "?" + qs, css


@dataclass(frozen=True)
class Chip:
    """One active filter value: what it says, and the list without it."""

    name: str
    value: str
    text: str
    remove: str  # query string of the list without this value


def filter_chips(lq: ListQuery, labels: Labels, lang: str) -> list[Chip]:
    """Every active filter value of the list, in the order of the form."""
    pickers = {
        "status": labels.status,
        "category": labels.category,
        "region": labels.region,
        "department": labels.department,
        "channel": labels.channel,
        "flag": labels.flag,
    }
    chips: list[Chip] = []

    def add(name: str, value: str, text: str, whole: bool = False) -> None:
        chips.append(Chip(name, value, text, lq.without(name, None if whole else value)))

    q = lq.value("q")
    if q:
        add("q", q, f"{translate(lang, 'cases.q')}：{q}")
    for name in LIST_FILTERS:
        title = translate(lang, "cases." + ("flags" if name == "flag" else name))
        for code in lq.values(name):
            add(name, code, f"{title}：{pickers[name](code, lang)}")
    deadline = lq.value("deadline")
    if deadline:
        add("deadline", deadline, translate(lang, f"cases.deadline.{deadline}"))
    for name in ("from", "to"):
        day = lq.value(name)
        if day:
            add(name, day, f"{translate(lang, f'list.chip.{name}')}：{day}")
    if lq.value("kpi"):
        add("kpi", lq.value("kpi"), translate(lang, "list.chip.kpi"), whole=True)
    return chips


def _multi(query: MultiMapping[str], name: str) -> tuple[str, ...]:
    out: list[str] = []
    for raw in query.getall(name, []):
        for part in str(raw).split(","):
            part = part.strip()[:64]
            if part and part not in out:
                out.append(part)
    return tuple(out[:MAX_VALUES])


def _date(raw: str) -> date | None:
    """A filter's day; None when it is not a date or outside the plausible days (the API's
    FIRST_DAY..LAST_DAY; beyond them the day after could not even be computed)."""
    try:
        return plausible_day(date.fromisoformat(raw.strip()))
    except ValueError:
        return None


def _int(raw: str, default: int) -> int:
    try:
        return int(raw)
    except ValueError:
        return default


NO_HANDLER = "-"  # the handler filter's value for "no named handler yet"


def handler_filter(raw: str) -> str | None:
    """The handler filter from its parameter: a login, "" for none ("-"), None: no filter."""
    raw = raw.strip()[:64]
    if not raw:
        return None
    return "" if raw == NO_HANDLER else raw


def parse_list_query(query: MultiMapping[str], tz: ZoneInfo) -> ListQuery:
    """The filter, sort and page from GET parameters; bad values are dropped and reported."""
    params: list[tuple[str, str]] = []
    errors: list[str] = []
    lists: dict[str, tuple[str, ...]] = {}
    for name in ("status", "category", "region", "department", "channel", "flag"):
        lists[name] = _multi(query, name)
        params += [(name, v) for v in lists[name]]
    deadline = query.get("deadline", "")
    if deadline not in ("overdue", "near_due"):
        deadline = ""
    else:
        params.append(("deadline", deadline))
    bounds: dict[str, datetime | None] = {"from": None, "to": None}
    for name in bounds:
        raw = str(query.get(name, "")).strip()[:32]
        if not raw:
            continue
        day = _date(raw)
        if day is None:
            errors.append(raw)
            continue
        params.append((name, day.isoformat()))
        if name == "to":  # inclusive day: up to the start of the next one
            day += timedelta(days=1)
        bounds[name] = datetime.combine(day, time.min, tz)
    q = str(query.get("q", "")).strip()[:MAX_Q]
    if q:
        params.append(("q", q))
    handler = handler_filter(str(query.get("handler", "")))
    if handler is not None:
        params.append(("handler", handler or NO_HANDLER))
    kpi = _kpi(query, tz, params, errors)
    by = str(query.get("sort", ""))
    descending = query.get("dir", "desc") != "asc"
    sort = Sort(by, descending) if by in SORTS else Sort()
    if by in SORTS:
        params += [("sort", by), ("dir", "desc" if descending else "asc")]
    per_page = _int(str(query.get("per_page", "")), DEFAULT_PER_PAGE)
    per_page = per_page if per_page in PER_PAGE_CHOICES else DEFAULT_PER_PAGE
    if per_page != DEFAULT_PER_PAGE:
        params.append(("per_page", str(per_page)))
    page = max(1, min(_int(str(query.get("page", "1")), 1), 1_000_000))
    flt = CaseFilter(
        statuses=lists["status"],
        categories=lists["category"],
        regions=lists["region"],
        departments=lists["department"],
        channels=lists["channel"],
        flags=lists["flag"],
        deadline=cast(Deadline, deadline),
        submitted_from=bounds["from"],
        submitted_to=bounds["to"],
        q=q,
        kpi=kpi,
        handler=handler,
    )
    return ListQuery(flt, sort, page, min(per_page, MAX_PER_PAGE), params, errors)


def _kpi(
    query: MultiMapping[str], tz: ZoneInfo, params: list[tuple[str, str]], errors: list[str]
) -> KpiSlice | None:
    """A dashboard figure's drill-down: kpi, kpi_part, kpi_from and kpi_to (inclusive)."""
    raw = {name: str(query.get(name, "")).strip()[:32] for name in KPI_PARAMS}
    if not raw["kpi"]:
        return None
    first, last = _date(raw["kpi_from"]), _date(raw["kpi_to"])
    try:
        if first is None or last is None:
            raise PeriodError("kpi_from and kpi_to are dates")
        part = cast(Part, raw["kpi_part"] or "base")
        found = slice_of(period_between(first, last), raw["kpi"], part, tz)
    except PeriodError:
        errors.append(" ".join(raw.values()))
        return None
    params.extend(raw.items())
    return found


def pages_around(page: int, pages: int, width: int = 2) -> Iterable[int]:
    """Page numbers to link: the first, the last and a few around the current one."""
    shown = {1, pages, *range(max(1, page - width), min(pages, page + width) + 1)}
    return sorted(shown)
