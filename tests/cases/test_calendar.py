"""Working-day calendar: the 2026 schedule, day counting, a year without a file, validation."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from bot.cases.calendar import Calendar, CalendarError, load_calendar

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def cal() -> Calendar:
    return load_calendar(CONFIG_DIR)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def test_shipped_2026_only(cal: Calendar) -> None:
    assert cal.has_year(2026)
    assert not cal.has_year(2027)
    assert len(cal.days_off) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert sorted(cal.make_up_days) == [
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
        date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 2, 13), True),  # Friday before the Spring Festival
        (date(2026, 2, 14), True),  # Saturday make-up day
        (date(2026, 2, 15), False),
        (date(2026, 2, 18), False),  # Wednesday inside the holiday
        (date(2026, 2, 23), False),  # Monday, last day off
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday make-up day
        (date(2026, 3, 1), False),  # plain Sunday
        (date(2026, 9, 20), True),  # Sunday make-up day before National Day
        (date(2026, 10, 1), False),
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Saturday make-up day
        (date(2026, 10, 11), False),
        (date(2026, 1, 4), True),
        (date(2026, 5, 5), False),
    ],
)
def test_is_working_day(cal: Calendar, day: date, working: bool) -> None:
    assert cal.is_working_day(day) is working


def test_working_days_across_spring_festival(cal: Calendar) -> None:
    # From Thu Feb 12: Fri 13, Sat 14 (make-up), then nothing until Tue Feb 24.
    assert cal.add_days(date(2026, 2, 12), 1, working=True) == date(2026, 2, 13)
    assert cal.add_days(date(2026, 2, 12), 2, working=True) == date(2026, 2, 14)
    assert cal.add_days(date(2026, 2, 12), 3, working=True) == date(2026, 2, 24)
    # Feb 24-27 (3-6), Sat Feb 28 make-up (7), Mar 2-6 (8-12), Mar 9-11 (13-15).
    assert cal.add_days(date(2026, 2, 12), 7, working=True) == date(2026, 2, 28)
    assert cal.add_days(date(2026, 2, 12), 15, working=True) == date(2026, 3, 11)


def test_calendar_days_across_spring_festival(cal: Calendar) -> None:
    # 15 calendar days from Feb 1 end on Mon Feb 16, a holiday: moved to Tue Feb 24.
    assert cal.add_days(date(2026, 2, 1), 15, working=False) == date(2026, 2, 24)
    # Ending on the make-up Saturday Feb 14: a working day, not moved.
    assert cal.add_days(date(2026, 1, 30), 15, working=False) == date(2026, 2, 14)
    # Ending on a plain Saturday: moved to Monday.
    assert cal.add_days(date(2026, 3, 6), 1, working=False) == date(2026, 3, 9)


def test_calendar_days_not_extended_when_configured(cal: Calendar) -> None:
    strict = Calendar(cal.days_off, cal.make_up_days, cal.years, False)
    assert strict.add_days(date(2026, 2, 1), 15, working=False) == date(2026, 2, 16)


def test_national_day(cal: Calendar) -> None:
    # Fri Sep 18 -> Sun Sep 20 is a make-up working day.
    assert cal.add_days(date(2026, 9, 18), 1, working=True) == date(2026, 9, 20)
    # Wed Sep 30 -> Oct 8 (Thu), Oct 9 (Fri), Oct 10 (Sat, make-up), Oct 12 (Mon).
    assert cal.add_days(date(2026, 9, 30), 1, working=True) == date(2026, 10, 8)
    assert cal.add_days(date(2026, 9, 30), 3, working=True) == date(2026, 10, 10)
    assert cal.add_days(date(2026, 9, 30), 4, working=True) == date(2026, 10, 12)
    assert cal.add_days(date(2026, 9, 28), 5, working=False) == date(2026, 10, 8)


def test_start_day_not_counted(cal: Calendar) -> None:
    assert cal.add_days(date(2026, 3, 2), 0, working=False) == date(2026, 3, 2)
    assert cal.add_days(date(2026, 3, 2), 0, working=True) == date(2026, 3, 2)
    assert cal.add_days(date(2026, 3, 2), 1, working=False) == date(2026, 3, 3)
    with pytest.raises(CalendarError):
        cal.add_days(date(2026, 3, 2), -1, working=False)


def test_year_without_calendar_counts_monday_to_friday(cal: Calendar) -> None:
    assert cal.missing_years(date(2026, 12, 1), date(2027, 3, 1)) == [2027]
    assert cal.missing_years(date(2027, 3, 1), date(2025, 3, 1)) == [2025, 2027]
    assert cal.missing_years(date(2026, 1, 1), date(2026, 12, 31)) == []
    # 2027-02-08 is a Monday; with no 2027 file it is a working day (no guessed holiday).
    assert cal.is_working_day(date(2027, 2, 8))
    assert not cal.is_working_day(date(2027, 2, 6))
    # From Mon Dec 28 2026: Dec 29, 30, 31, then Fri Jan 1 2027 (not guessed as a holiday).
    assert cal.add_days(date(2026, 12, 28), 4, working=True) == date(2027, 1, 1)


def test_new_year_is_added_by_dropping_a_file(config: Path) -> None:
    (config / "calendar" / "2030.yaml").write_text(
        "year: 2030\nholidays:\n  - name: 测试\n    days_off: [2030-03-04]\n", encoding="utf-8"
    )
    cal = load_calendar(config)
    assert cal.has_year(2030)
    assert not cal.is_working_day(date(2030, 3, 4))


def _write(config: Path, doc: object, name: str = "2026.yaml") -> None:
    (config / "calendar" / name).write_text(
        yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8"
    )


@pytest.mark.parametrize(
    ("doc", "name", "message"),
    [
        ({"year": 2026, "holidays": [{"name": "春节", "days_off": ["2027-02-15"]}]}, "2026.yaml",
         "holidays[0] (春节): 'days_off[0]' 2027-02-15 is outside the file's year 2026"),
        ({"year": 2026, "holidays": [{"name": "春节", "days_off": ["2026-02-15"],
                                       "work_days": ["2026-02-15"]}]}, "2026.yaml",
         "2026-02-15 is listed both as a day off and as a work day"),
        ({"year": 2026, "holidays": [{"name": "春节", "days_off": {"from": "2026-02-23",
                                                                   "to": "2026-02-15"}}]},
         "2026.yaml", "holidays[0] (春节): 'days_off' ends (2026-02-15) before it starts"),
        ({"year": 2026, "holidays": [{"name": "春节", "days_off": ["2026-02-30"]}]}, "2026.yaml",
         "'days_off[0]' is not a date"),
        ({"year": 2026, "holidays": [{"name": "国庆", "days_off": ["2026-10-01"],
                                       "work_days": ["2026-10-12"]}]}, "2026.yaml",
         "holidays[0] (国庆): work day 2026-10-12 is a weekday already"),
        ({"year": 2026, "holidays": [{"days_off": ["2026-10-01"]}]}, "2026.yaml",
         "holidays[0] (unnamed): 'name' is required"),
        ({"year": 2026, "holidays": [{"name": "x", "days_off": ["2026-10-01"]}]}, "2028.yaml",
         "config/calendar/2028.yaml: the file for year 2026 must be named 2026.yaml"),
        ({"year": 2026, "holidays": [{"name": "国庆"}]}, "2026.yaml",
         "holidays[0] (国庆): 'days_off' is required"),
        ({"year": 2026, "holidays": [{"name": "a", "days_off": ["2026-10-01"]},
                                      {"name": "b", "days_off": ["2026-10-01"]}]}, "2026.yaml",
         "holidays[1] (b): off day 2026-10-01 is already listed (a)"),
    ],
)  # fmt: skip
def test_validation_names_file_and_entry(
    config: Path, doc: object, name: str, message: str
) -> None:
    _write(config, doc, name)
    with pytest.raises(CalendarError) as info:
        load_calendar(config)
    assert f"config/calendar/{name}" in str(info.value)
    assert message in str(info.value)


def test_extend_flag_validated(config: Path) -> None:
    path = config / "lifecycle.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("extend_calendar_deadline_past_holiday: true",
                     "extend_calendar_deadline_past_holiday: false"), encoding="utf-8"
    )  # fmt: skip
    assert load_calendar(config).extend_calendar_deadline_past_holiday is False
    path.write_text(
        text.replace("extend_calendar_deadline_past_holiday: true",
                     "extend_calendar_deadline_past_holiday: 3"), encoding="utf-8"
    )  # fmt: skip
    with pytest.raises(CalendarError, match=r"config/lifecycle\.yaml"):
        load_calendar(config)
