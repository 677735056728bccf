"""Flags computed for staff when a case is registered (never shown to the citizen as labels)."""

from __future__ import annotations

from typing import Any

GROUP_PETITION_MIN_PEOPLE = 5  # 集体访, practice (DOMAIN.md)

FIRST_PETITION = "first_petition"  # 初信初访
REPEAT_PETITION = "repeat_petition"  # 重复访
GROUP_PETITION = "group_petition"  # 集体访
LITIGATION = "litigation_related"  # 涉法涉诉


def registration_flags(answers: dict[str, Any], earlier_cases: int) -> list[str]:
    """The flags a new case gets from its answers and the citizen's history."""
    flags: list[str] = []
    repeat = earlier_cases > 0 or answers.get("reported_before") in (True, "yes")
    flags.append(REPEAT_PETITION if repeat else FIRST_PETITION)
    try:
        people = int(answers.get("people_count") or 1)
    except (TypeError, ValueError):
        people = 1
    if people >= GROUP_PETITION_MIN_PEOPLE:
        flags.append(GROUP_PETITION)
    if answers.get("legal_status") not in (None, "", "none"):
        flags.append(LITIGATION)
    return flags
