"""Clocks: lifecycle.yaml, due dates at the end of the local day, near-due and overdue."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cases.calendar import Calendar, CalendarError, load_calendar
from bot.cases.clocks import ClockError, ClockRule, Clocks, deadline_state, due_at, load_clocks

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def cal() -> Calendar:
    return load_calendar(CONFIG_DIR)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def test_shipped_clocks() -> None:
    clocks = load_clocks(CONFIG_DIR)
    assert clocks == Clocks(
        acceptance=ClockRule(15),
        answer=ClockRule(60),
        extension_max_days=30,
        extensions_allowed=1,
        review_request=ClockRule(30),
        review_decision=ClockRule(30),
        recheck_request=ClockRule(30),
        recheck_decision=ClockRule(30),
        near_due_days=3,
        return_objection=ClockRule(5, working_days=True),
        followup_days=7,
        followup_hour=10,
    )


def test_due_at_end_of_local_day(cal: Calendar) -> None:
    # 2026-03-02 17:00 UTC is already Tuesday 01:00 in Shanghai: the period starts on Mar 3.
    start = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
    due = due_at(start, ClockRule(15), cal, SH)
    assert due == datetime(2026, 3, 18, 23, 59, 59, 999999, tzinfo=SH)
    assert due.utcoffset() == timedelta(hours=8)
    # One minute before midnight Shanghai time is still Monday Mar 2.
    start = datetime(2026, 3, 2, 15, 59, tzinfo=UTC)
    assert due_at(start, ClockRule(15), cal, SH).date() == date(2026, 3, 17)


def test_due_at_calendar_vs_working_days_over_spring_festival(cal: Calendar) -> None:
    start = datetime(2026, 2, 10, 9, 30, tzinfo=SH)
    # 15 calendar days: Feb 25 (a working day, no extension needed).
    assert due_at(start, ClockRule(15), cal, SH).date() == date(2026, 2, 25)
    # 15 working days: Feb 11-13 (3), Sat 14 (4), Feb 24-28 (9), Mar 2-6 (14), Mar 9 (15).
    assert due_at(start, ClockRule(15, working_days=True), cal, SH).date() == date(2026, 3, 9)
    # 5 calendar days end on Feb 15, a holiday: moved to the first working day, Feb 24.
    assert due_at(start, ClockRule(5), cal, SH).date() == date(2026, 2, 24)


def test_extension_adds_to_the_answer_deadline(cal: Calendar) -> None:
    clocks = load_clocks(CONFIG_DIR)
    accepted = datetime(2026, 8, 3, 10, 0, tzinfo=SH)
    answer_due = due_at(accepted, clocks.answer, cal, SH)
    assert answer_due.date() == date(2026, 10, 8)  # Oct 2 is in the National Day holiday
    extended = due_at(answer_due, ClockRule(clocks.extension_max_days), cal, SH)
    assert extended.date() == date(2026, 11, 9)  # Nov 7 is a Saturday


def test_due_at_needs_aware_start(cal: Calendar) -> None:
    with pytest.raises(CalendarError):
        due_at(datetime(2026, 3, 2, 9), ClockRule(15), cal, SH)


def test_deadline_state(cal: Calendar) -> None:
    due = datetime(2026, 3, 13, 23, 59, 59, 999999, tzinfo=SH)  # a Friday
    at = lambda *a: datetime(*a, tzinfo=SH)  # noqa: E731
    assert deadline_state(due, at(2026, 3, 9, 12), 3, cal, SH) == "ok"  # 4 working days left
    assert deadline_state(due, at(2026, 3, 10, 8), 3, cal, SH) == "near_due"
    assert deadline_state(due, at(2026, 3, 13, 23, 59), 3, cal, SH) == "near_due"
    assert deadline_state(due, at(2026, 3, 14, 0, 0), 3, cal, SH) == "overdue"
    assert deadline_state(due, at(2026, 3, 10, 8), 0, cal, SH) == "ok"
    assert deadline_state(due, at(2026, 3, 13, 8), 0, cal, SH) == "near_due"
    # The same instant given in UTC.
    assert deadline_state(due, datetime(2026, 3, 13, 16, 0, tzinfo=UTC), 3, cal, SH) == "overdue"


def test_near_due_counts_working_days_over_a_holiday(cal: Calendar) -> None:
    # Due Tue Feb 24, the first working day after the Spring Festival: on Fri Feb 13 only
    # Sat 14 and Tue 24 are working days left, so staff see it before they leave.
    due = datetime(2026, 2, 24, 23, 59, 59, 999999, tzinfo=SH)
    assert deadline_state(due, datetime(2026, 2, 13, 9, tzinfo=SH), 3, cal, SH) == "near_due"
    assert deadline_state(due, datetime(2026, 2, 10, 9, tzinfo=SH), 3, cal, SH) == "ok"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("acceptance: {days: 15}", "acceptance: {days: 0}", "'clocks.acceptance.days' must be"),
        ("answer: {days: 60}", "answer: {days: 60, working: true}", "clocks.answer.working"),
        ("answer: {days: 60}", "answer: {days: 60, working_days: 1}",
         "clocks.answer.working_days must be true or false"),
        ("  review_decision: {days: 30}", "  review_decison: {days: 30}",
         "clocks.review_decison: unknown clock"),
        ("  max_days: 30", "  max_days: thirty", "'extension.max_days' must be"),
        ("near_due_days: 3", "near_due_days: -1", "'near_due_days' must be"),
        ("followup_days: 7", "followup_days: -7", "'followup_days' must be"),
        ("followup_hour: 10", "followup_hour: 24", "'followup_hour' must be an hour"),
    ],
)  # fmt: skip
def test_validation_names_the_key(config: Path, old: str, new: str, message: str) -> None:
    path = config / "lifecycle.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ClockError) as info:
        load_clocks(config)
    assert "config/lifecycle.yaml" in str(info.value)
    assert message in str(info.value)


def test_missing_required_clock(config: Path) -> None:
    path = config / "lifecycle.yaml"
    lines = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.startswith("  recheck_decision")
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ClockError, match=r"clocks\.recheck_decision must be a mapping"):
        load_clocks(config)
