"""Flags for staff (never shown to the citizen as labels): the rules and their computation.

:func:`FlagRules.compute` derives a case's flags from facts gathered by
:mod:`bot.cases.flagging` — its answers, the citizen's other cases, its linked group, the
citizen's later texts and the staff's own flag decisions — so they can be recomputed
whenever one of those changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
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
REPEATED_LATER = "repeated_later"  # 已重复访: the citizen came back on this matter later
STAFF_SETTABLE = frozenset({URGENT, MAJOR, HIGHER_ASSIGNED})
FLAG_ORDER = (
    FIRST_PETITION,
    REPEAT_PETITION,
    REPEATED_LATER,
    GROUP_PETITION,
    LITIGATION,
    URGENT,
    MAJOR,
    HIGHER_ASSIGNED,
)

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
class Evidence:
    """A text the citizen wrote (the petition, a review reason, a rating comment) and when."""

    text: str
    at: datetime
    on: date | None  # the local day, for seasonal keywords (None: base keywords only)


@dataclass(frozen=True)
class StaffDecision:
    """The latest staff decision on a staff-settable flag."""

    on: bool
    at: datetime


@dataclass(frozen=True)
class FlagFacts:
    """Everything a case's flags depend on, gathered from its current data."""

    answers: Mapping[str, Any]
    people_count: int
    earlier_cases: int  # the citizen's earlier cases, any matter (初信初访 when 0)
    repeats_earlier: bool  # a similar earlier case of the same citizen, or linked with one
    repeated_later: bool  # a similar later case of the same citizen, or linked with one
    group_people: int  # people of the linked group, each citizen counted once
    evidence: tuple[Evidence, ...] = ()
    staff: Mapping[str, StaffDecision] = field(default_factory=dict)


@dataclass(frozen=True)
class FlagRules:
    """The configured flag rules from config/flags.yaml."""

    urgent_keywords: tuple[str, ...] = ()
    seasonal_keywords: tuple[SeasonalKeywords, ...] = ()
    group_min_people: int = GROUP_PETITION_MIN_PEOPLE
    duplicate_threshold: float = DUPLICATE_THRESHOLD
    repeat_threshold: float = REPEAT_THRESHOLD

    def compute(self, facts: FlagFacts) -> list[str]:
        """A case's flags from its facts, in :data:`FLAG_ORDER`.

        Staff decisions win: a flag staff set stays, one they cleared stays off — except
        紧急, which urgent words the citizen writes after the staff decision set again.
        """
        answers = facts.answers
        said_before = answers.get("reported_before") in (True, "yes")
        flags: set[str] = set()
        if facts.earlier_cases == 0 and not said_before and not facts.repeats_earlier:
            flags.add(FIRST_PETITION)
        if facts.repeats_earlier or said_before:
            flags.add(REPEAT_PETITION)
        if facts.repeated_later:
            flags.add(REPEATED_LATER)
        if max(facts.people_count, facts.group_people) >= self.group_min_people:
            flags.add(GROUP_PETITION)
        if answers.get("legal_status") not in (None, "", "none"):
            flags.add(LITIGATION)
        decided = facts.staff.get(URGENT)
        evidence = [e for e in facts.evidence if decided is None or e.at > decided.at]
        if any(self.urgent_words(e.text, e.on) for e in evidence):
            flags.add(URGENT)
        for flag, decision in facts.staff.items():
            if decision.on:
                flags.add(flag)
            elif flag != URGENT:
                flags.discard(flag)
        return [f for f in FLAG_ORDER if f in flags]

    def urgent_words(self, text: str, on: date | None) -> list[str]:
        """The urgent keywords (with those of ``on``'s season) found in ``text``."""
        keywords = list(self.urgent_keywords)
        for rule in self.seasonal_keywords:
            if on is not None and on.month in rule.months:
                keywords.extend(rule.keywords)
        return urgent_matches({"request": text}, keywords)

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
    """The flags of a new case from its answers alone (:meth:`FlagRules.compute` underneath).

    ``earlier_cases`` counts the citizen's earlier cases (初信初访 when 0). ``repeat`` is
    the result of similarity-based 重复访 detection; when None, any earlier case counts
    as a repeat. Saying it was reported before always makes it a repeat. Seasonal
    keywords apply in the month of ``on``.
    """
    rules = FlagRules(
        urgent_keywords=tuple(urgent_keywords),
        seasonal_keywords=tuple(seasonal_keywords),
        group_min_people=group_min_people,
    )
    text = " ".join(str(answers.get(name) or "") for name in _TEXT_FIELDS)
    evidence = (Evidence(text, datetime.min, on),) if text.strip() else ()
    return rules.compute(
        FlagFacts(
            answers=answers,
            people_count=_people(answers),
            earlier_cases=earlier_cases,
            repeats_earlier=earlier_cases > 0 if repeat is None else repeat,
            repeated_later=False,
            group_people=0,
            evidence=evidence,
        )
    )


def _people(answers: Mapping[str, Any]) -> int:
    try:
        return int(answers.get("people_count") or 1)
    except (TypeError, ValueError):
        return 1


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
