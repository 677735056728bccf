"""Statutory clocks (信访工作条例): the rules from config/lifecycle.yaml and due-date arithmetic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.cases.calendar import Calendar, CalendarError
from bot.config import read_mapping

DeadlineState = Literal["ok", "near_due", "overdue"]


class ClockError(ValueError):
    """config/lifecycle.yaml is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class ClockRule:
    """A period of ``days`` calendar days, or working days when ``working_days``."""

    days: int
    working_days: bool = False


@dataclass(frozen=True)
class Clocks:
    """Every clock of the case lifecycle."""

    acceptance: ClockRule
    answer: ClockRule
    extension_max_days: int
    extensions_allowed: int
    review_request: ClockRule
    review_decision: ClockRule
    recheck_request: ClockRule
    recheck_decision: ClockRule
    near_due_days: int
    return_objection: ClockRule = ClockRule(5, working_days=True)
    followup_days: int = 0  # 回访 this many days after an answer (practice); 0 = off
    followup_hour: int = 10  # local hour the follow-up goes out, not in the night


_RULES = (
    "acceptance",
    "answer",
    "review_request",
    "review_decision",
    "recheck_request",
    "recheck_decision",
)


def load_clocks(config_dir: Path) -> Clocks:
    """Load and validate config/lifecycle.yaml."""
    where = "config/lifecycle.yaml"
    data = read_mapping(config_dir / "lifecycle.yaml", where, ClockError)
    raw_clocks = data.get("clocks")
    if not isinstance(raw_clocks, Mapping):
        raise ClockError(f"{where}: 'clocks' must be a mapping of clock name to {{days: N}}")
    unknown = sorted(set(raw_clocks) - {*_RULES, "return_objection"})
    if unknown:
        raise ClockError(f"{where}: clocks.{unknown[0]}: unknown clock")
    rules: dict[str, ClockRule] = {}
    for name in _RULES:
        rule = _rule(where, name, raw_clocks.get(name), required=True)
        assert rule is not None  # required rules are never None
        rules[name] = rule
    objection = _rule(where, "return_objection", raw_clocks.get("return_objection"))
    extension = data.get("extension")
    if not isinstance(extension, Mapping):
        raise ClockError(f"{where}: 'extension' must be a mapping {{max_days, allowed}}")
    return Clocks(
        **rules,
        extension_max_days=_int(where, "extension.max_days", extension.get("max_days"), 1),
        extensions_allowed=_int(where, "extension.allowed", extension.get("allowed"), 0),
        near_due_days=_int(where, "near_due_days", data.get("near_due_days"), 0),
        return_objection=objection or ClockRule(5, working_days=True),
        followup_days=_int(where, "followup_days", data.get("followup_days", 0), 0),
        followup_hour=_hour(where, "followup_hour", data.get("followup_hour", 10)),
    )


def _hour(where: str, key: str, raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= 23:
        raise ClockError(f"{where}: '{key}' must be an hour from 0 to 23")
    return raw


def _rule(where: str, name: str, raw: Any, *, required: bool = False) -> ClockRule | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, Mapping):
        raise ClockError(f"{where}: clocks.{name} must be a mapping {{days: N, working_days: B}}")
    extra = sorted(set(raw) - {"days", "working_days"})
    if extra:
        raise ClockError(f"{where}: clocks.{name}.{extra[0]}: unknown key")
    working = raw.get("working_days", False)
    if not isinstance(working, bool):
        raise ClockError(f"{where}: clocks.{name}.working_days must be true or false")
    return ClockRule(_int(where, f"clocks.{name}.days", raw.get("days"), 1), working)


def _int(where: str, key: str, raw: Any, minimum: int) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not minimum <= raw <= 3650:
        raise ClockError(f"{where}: '{key}' must be a whole number from {minimum} to 3650")
    return raw


def due_at(start: datetime, rule: ClockRule, calendar: Calendar, tz: ZoneInfo) -> datetime:
    """The end (23:59:59.999999 local time) of the last day of ``rule`` counted from ``start``."""
    if start.tzinfo is None:
        raise CalendarError("due_at needs an aware start datetime")
    start_day = start.astimezone(tz).date()
    due_day = calendar.add_days(start_day, rule.days, working=rule.working_days)
    return datetime.combine(due_day, time.max, tzinfo=tz)


def deadline_state(
    due: datetime, now: datetime, near_due_days: int, calendar: Calendar, tz: ZoneInfo
) -> DeadlineState:
    """Overdue after ``due``; near due when at most ``near_due_days`` working days remain."""
    if due.tzinfo is None or now.tzinfo is None:
        raise CalendarError("deadline_state needs aware datetimes")
    if now > due:
        return "overdue"
    today = now.astimezone(tz).date()
    due_day = due.astimezone(tz).date()
    if calendar.working_days_between(today, due_day) <= near_due_days:
        return "near_due"
    return "ok"
