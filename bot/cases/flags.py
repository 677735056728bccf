"""Flags computed for staff when a case is registered (never shown to the citizen as labels)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bot.cases.similarity import DUPLICATE_THRESHOLD, REPEAT_THRESHOLD, normalise
from bot.config import read_mapping

GROUP_PETITION_MIN_PEOPLE = 5  # 集体访, practice (DOMAIN.md)

FIRST_PETITION = "first_petition"  # 初信初访
REPEAT_PETITION = "repeat_petition"  # 重复访
GROUP_PETITION = "group_petition"  # 集体访
LITIGATION = "litigation_related"  # 涉法涉诉
URGENT = "urgent"  # 紧急 (急事急办)
MAJOR = "major_difficult"  # 重大疑难 (staff only)
HIGHER_ASSIGNED = "assigned_by_higher"  # 上级交办 (staff only)
STAFF_SETTABLE = frozenset({URGENT, MAJOR, HIGHER_ASSIGNED})

# The answers whose text is searched for urgent keywords.
_TEXT_FIELDS = ("request", "facts")


class FlagRulesError(ValueError):
    """config/flags.yaml is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class SeasonalKeywords:
    """Keywords that make a petition urgent only in some months (e.g. 年底讨薪 in Dec-Feb)."""

    name: str
    months: frozenset[int]
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class FlagRules:
    """The configured flag rules from config/flags.yaml."""

    urgent_keywords: tuple[str, ...] = ()
    seasonal_keywords: tuple[SeasonalKeywords, ...] = ()
    group_min_people: int = GROUP_PETITION_MIN_PEOPLE
    duplicate_threshold: float = DUPLICATE_THRESHOLD
    repeat_threshold: float = REPEAT_THRESHOLD

    def flags(
        self,
        answers: dict[str, Any],
        earlier_cases: int,
        *,
        repeat: bool | None = None,
        on: date | None = None,
    ) -> list[str]:
        """registration_flags with these rules; seasonal keywords apply in the month of ``on``."""
        return registration_flags(
            answers,
            earlier_cases,
            repeat=repeat,
            urgent_keywords=self.urgent_keywords,
            seasonal_keywords=self.seasonal_keywords,
            on=on,
            group_min_people=self.group_min_people,
        )


def registration_flags(
    answers: dict[str, Any],
    earlier_cases: int,
    *,
    repeat: bool | None = None,
    urgent_keywords: Sequence[str] = (),
    seasonal_keywords: Sequence[SeasonalKeywords] = (),
    on: date | None = None,
    group_min_people: int = GROUP_PETITION_MIN_PEOPLE,
) -> list[str]:
    """The flags a new case gets from its answers and the citizen's history.

    ``earlier_cases`` counts the citizen's earlier cases (初信初访 when 0). ``repeat`` is
    the result of similarity-based 重复访 detection; when None, any earlier case counts
    as a repeat (the behaviour before detection existed). Saying it was reported before
    always makes it a repeat.
    """
    flags: list[str] = []
    said_before = answers.get("reported_before") in (True, "yes")
    if repeat is None:
        repeat = earlier_cases > 0
    if earlier_cases == 0 and not said_before:
        flags.append(FIRST_PETITION)
    if repeat or said_before:
        flags.append(REPEAT_PETITION)
    try:
        people = int(answers.get("people_count") or 1)
    except (TypeError, ValueError):
        people = 1
    if people >= group_min_people:
        flags.append(GROUP_PETITION)
    if answers.get("legal_status") not in (None, "", "none"):
        flags.append(LITIGATION)
    keywords = list(urgent_keywords)
    if on is not None:
        for rule in seasonal_keywords:
            if on.month in rule.months:
                keywords.extend(rule.keywords)
    if urgent_matches(answers, keywords):
        flags.append(URGENT)
    return flags


def urgent_matches(answers: Mapping[str, Any], keywords: Sequence[str]) -> list[str]:
    """The keywords found in the petition's request and facts (ignoring spaces and punctuation)."""
    text = normalise(" ".join(str(answers.get(name) or "") for name in _TEXT_FIELDS))
    found: list[str] = []
    for keyword in keywords:
        norm = normalise(keyword)
        if norm and norm in text and keyword not in found:
            found.append(keyword)
    return found


def load_flag_rules(config_dir: Path) -> FlagRules:
    """Load and validate config/flags.yaml."""
    where = "config/flags.yaml"
    data = read_mapping(config_dir / "flags.yaml", where, FlagRulesError)
    urgent = _keywords(where, "urgent_keywords", data.get("urgent_keywords"))
    raw_seasonal = data.get("seasonal_keywords", [])
    if not isinstance(raw_seasonal, list):
        raise FlagRulesError(f"{where}: 'seasonal_keywords' must be a list")
    seasonal: list[SeasonalKeywords] = []
    for index, raw in enumerate(raw_seasonal):
        swhere = f"{where}: seasonal_keywords[{index}]"
        if not isinstance(raw, Mapping):
            raise FlagRulesError(f"{swhere}: must be a mapping {{name, months, keywords}}")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise FlagRulesError(f"{swhere}: 'name' is required")
        months = raw.get("months")
        if (
            not isinstance(months, list)
            or not months
            or not all(isinstance(m, int) and not isinstance(m, bool) for m in months)
            or not all(1 <= m <= 12 for m in months)
        ):
            raise FlagRulesError(f"{swhere} ({name}): 'months' must be a list of 1..12")
        keywords = _keywords(f"{swhere} ({name})", "keywords", raw.get("keywords"))
        seasonal.append(SeasonalKeywords(name.strip(), frozenset(months), keywords))
    group = data.get("group_min_people", GROUP_PETITION_MIN_PEOPLE)
    if not isinstance(group, int) or isinstance(group, bool) or group < 2:
        raise FlagRulesError(f"{where}: 'group_min_people' must be a whole number of at least 2")
    return FlagRules(
        urgent_keywords=urgent,
        seasonal_keywords=tuple(seasonal),
        group_min_people=group,
        duplicate_threshold=_threshold(where, "duplicate_threshold", data, DUPLICATE_THRESHOLD),
        repeat_threshold=_threshold(where, "repeat_threshold", data, REPEAT_THRESHOLD),
    )


def _keywords(where: str, key: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise FlagRulesError(f"{where}: '{key}' must be a non-empty list of words")
    for index, word in enumerate(raw):
        if not isinstance(word, str) or not normalise(word):
            raise FlagRulesError(f"{where}: {key}[{index}] must be a word, got {word!r}")
    return tuple(word.strip() for word in raw)


def _threshold(where: str, key: str, data: Mapping[str, Any], default: float) -> float:
    raw = data.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= 1:
        raise FlagRulesError(f"{where}: '{key}' must be a number above 0 and at most 1")
    return float(raw)
