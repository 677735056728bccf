"""Working-day calendar: China's public holidays and make-up working days, from config.

One file per year in ``config/calendar/<year>.yaml``. A year without a file counts Monday
to Friday as working days; :meth:`Calendar.missing_years` tells start-up and the dashboard
which years to warn about. The 2027 schedule is not shipped because the State Council had
not published it: it must not be guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import read_mapping

# Safety net for add_days on working days: no real schedule has this many days off in a row.
_MAX_DAYS_OFF_IN_A_ROW = 60


class CalendarError(ValueError):
    """A calendar file is invalid (the message names the file and entry) or a bad argument."""


@dataclass(frozen=True)
class Calendar:
    """Working-day calendar: Monday-Friday unless a day is listed as off or as a make-up day."""

    days_off: frozenset[date] = frozenset()
    make_up_days: frozenset[date] = frozenset()
    years: frozenset[int] = frozenset()
    extend_calendar_deadline_past_holiday: bool = True
    names: Mapping[date, str] = field(default_factory=dict, compare=False, hash=False)

    def is_working_day(self, day: date) -> bool:
        """Monday-Friday unless listed as a day off; listed make-up days (调休上班) work."""
        if day in self.make_up_days:
            return True
        if day in self.days_off:
            return False
        return day.weekday() < 5

    def next_working_day(self, day: date) -> date:
        """``day`` itself when it is a working day, else the first working day after it."""
        for _ in range(_MAX_DAYS_OFF_IN_A_ROW):
            if self.is_working_day(day):
                return day
            day += timedelta(days=1)
        raise CalendarError(f"no working day within {_MAX_DAYS_OFF_IN_A_ROW} days of {day}")

    def add_days(self, start: date, days: int, *, working: bool) -> date:
        """The last day of a period of ``days`` days that starts on ``start``.

        The start day is not counted (期间开始之日不计算在内). Working-day periods count only
        working days. A calendar-day period that ends on a day off moves to the next working
        day when ``extend_calendar_deadline_past_holiday`` is set (the default).
        """
        if days < 0:
            raise CalendarError(f"a period cannot be negative: {days} days")
        if not working:
            end = start + timedelta(days=days)
            if days and self.extend_calendar_deadline_past_holiday:
                end = self.next_working_day(end)
            return end
        day = start
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count

    def has_year(self, year: int) -> bool:
        """Whether a holiday schedule for ``year`` is configured."""
        return year in self.years

    def missing_years(self, start: date, end: date) -> list[int]:
        """Years from ``start`` to ``end`` (either order) that have no configured schedule."""
        low, high = sorted((start.year, end.year))
        return [year for year in range(low, high + 1) if year not in self.years]


def load_calendar(config_dir: Path) -> Calendar:
    """Load and validate every config/calendar/*.yaml (plus the deadline rule in lifecycle.yaml)."""
    days_off: dict[date, str] = {}
    make_up: dict[date, str] = {}
    years: set[int] = set()
    for path in sorted((config_dir / "calendar").glob("*.yaml")):
        where = f"config/calendar/{path.name}"
        year, off, work = _parse_year(read_mapping(path, where, CalendarError), where, path.stem)
        years.add(year)
        days_off.update(off)
        make_up.update(work)
    return Calendar(
        days_off=frozenset(days_off),
        make_up_days=frozenset(make_up),
        years=frozenset(years),
        extend_calendar_deadline_past_holiday=_extend_flag(config_dir),
        names={**days_off, **make_up},
    )


def _extend_flag(config_dir: Path) -> bool:
    path = config_dir / "lifecycle.yaml"
    if not path.exists():
        return True
    value = read_mapping(path, "config/lifecycle.yaml", CalendarError).get(
        "extend_calendar_deadline_past_holiday", True
    )
    if not isinstance(value, bool):
        raise CalendarError(
            "config/lifecycle.yaml: 'extend_calendar_deadline_past_holiday' must be true or false"
        )
    return value


def _parse_year(
    data: Mapping[str, Any], where: str, stem: str
) -> tuple[int, dict[date, str], dict[date, str]]:
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
        raise CalendarError(f"{where}: 'year' must be a year such as 2026")
    if stem != str(year):
        raise CalendarError(f"{where}: the file for year {year} must be named {year}.yaml")
    holidays = data.get("holidays")
    if not isinstance(holidays, list) or not holidays:
        raise CalendarError(f"{where}: 'holidays' must be a non-empty list")
    off: dict[date, str] = {}
    work: dict[date, str] = {}
    for index, entry in enumerate(holidays):
        if not isinstance(entry, Mapping):
            raise CalendarError(f"{where}: holidays[{index}] must be a mapping")
        name = _name(entry.get("name"))
        ewhere = f"{where}: holidays[{index}] ({name or 'unnamed'})"
        if not name:
            raise CalendarError(f"{ewhere}: 'name' is required (a string or {{zh, en}})")
        for day in _days(ewhere, "days_off", entry.get("days_off"), year, required=True):
            if day in off:
                raise CalendarError(f"{ewhere}: off day {day} is already listed ({off[day]})")
            off[day] = name
        for day in _days(ewhere, "work_days", entry.get("work_days"), year, required=False):
            if day.weekday() < 5:
                raise CalendarError(
                    f"{ewhere}: work day {day} is a weekday already; list only weekend days"
                )
            if day in work:
                raise CalendarError(f"{ewhere}: work day {day} is already listed ({work[day]})")
            work[day] = name
    both = sorted(set(off) & set(work))
    if both:
        raise CalendarError(f"{where}: {both[0]} is listed both as a day off and as a work day")
    return year, off, work


def _name(raw: Any) -> str:
    if isinstance(raw, str):
        return raw.strip()
    if isinstance(raw, Mapping):
        zh = raw.get("zh")
        return zh.strip() if isinstance(zh, str) else ""
    return ""


def _days(where: str, key: str, raw: Any, year: int, *, required: bool) -> Iterable[date]:
    if raw is None:
        if required:
            raise CalendarError(f"{where}: '{key}' is required")
        return []
    if isinstance(raw, Mapping):
        start = _date(where, f"{key}.from", raw.get("from"), year)
        end = _date(where, f"{key}.to", raw.get("to"), year)
        if end < start:
            raise CalendarError(f"{where}: '{key}' ends ({end}) before it starts ({start})")
        return [start + timedelta(days=n) for n in range((end - start).days + 1)]
    if isinstance(raw, list) and raw:
        return [_date(where, f"{key}[{n}]", item, year) for n, item in enumerate(raw)]
    raise CalendarError(f"{where}: '{key}' must be {{from, to}} or a non-empty list of dates")


def _date(where: str, key: str, raw: Any, year: int) -> date:
    if isinstance(raw, datetime):
        raise CalendarError(f"{where}: '{key}' must be a date without a time, got {raw!r}")
    if isinstance(raw, date):
        day = raw
    elif isinstance(raw, str):
        try:
            day = date.fromisoformat(raw.strip())
        except ValueError as exc:
            raise CalendarError(f"{where}: '{key}' is not a date (YYYY-MM-DD): {raw!r}") from exc
    else:
        raise CalendarError(f"{where}: '{key}' must be a date (YYYY-MM-DD), got {raw!r}")
    if day.year != year:
        raise CalendarError(f"{where}: '{key}' {day} is outside the file's year {year}")
    return day
