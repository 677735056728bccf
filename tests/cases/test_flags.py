"""Flags at registration: 初信初访, 重复访, 集体访, 涉法涉诉, 紧急 (keywords, seasonal), config."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.cases.flags import (
    FIRST_PETITION,
    GROUP_PETITION,
    LITIGATION,
    REPEAT_PETITION,
    URGENT,
    FlagRules,
    FlagRulesError,
    load_flag_rules,
    registration_flags,
    urgent_matches,
)
from bot.cases.similarity import DUPLICATE_THRESHOLD, REPEAT_THRESHOLD, is_repeat, same_citizen

from .fixture import CONFIG_DIR, petitions, raw


@pytest.fixture(scope="module")
def rules() -> FlagRules:
    return load_flag_rules(CONFIG_DIR)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def _answers(text: str, people: int = 1, **extra: Any) -> dict[str, Any]:
    return {"request": "", "facts": text, "people_count": people, **extra}


def test_shipped_rules(rules: FlagRules) -> None:
    assert {"自杀", "轻生", "火灾", "爆炸", "跳楼"} <= set(rules.urgent_keywords)
    (season,) = rules.seasonal_keywords
    assert season.months == {12, 1, 2}
    assert "讨薪" in season.keywords
    assert rules.group_min_people == 5
    assert rules.duplicate_threshold == DUPLICATE_THRESHOLD
    assert rules.repeat_threshold == REPEAT_THRESHOLD


def test_old_signature_still_works() -> None:
    assert registration_flags({"people_count": 1}, 0) == [FIRST_PETITION]
    assert registration_flags({"people_count": 1}, 2) == [REPEAT_PETITION]
    assert registration_flags({"people_count": "7", "legal_status": "litigation"}, 0) == [
        FIRST_PETITION, GROUP_PETITION, LITIGATION,
    ]  # fmt: skip
    assert registration_flags({"people_count": "many", "legal_status": "none"}, 0) == [
        FIRST_PETITION
    ]


def test_repeat_from_detection() -> None:
    # Earlier cases on other matters: neither first petition nor repeat.
    assert registration_flags({}, 3, repeat=False) == []
    assert registration_flags({}, 3, repeat=True) == [REPEAT_PETITION]
    # The citizen says they reported it before (elsewhere): repeat, not a first petition.
    assert registration_flags({"reported_before": "yes"}, 0, repeat=False) == [REPEAT_PETITION]
    assert registration_flags({"reported_before": "no"}, 0, repeat=False) == [FIRST_PETITION]


def test_urgent_keywords_ignore_spacing_and_width() -> None:
    assert urgent_matches({"facts": "再不给钱我就 跳 楼"}, ["跳楼"]) == ["跳楼"]
    assert urgent_matches({"request": "楼道里有煤气泄漏！"}, ["煤气泄漏", "火灾"]) == ["煤气泄漏"]
    assert urgent_matches({"facts": "噪音扰民"}, ["火灾"]) == []
    flags = registration_flags(_answers("想轻生"), 0, urgent_keywords=["轻生"])
    assert flags == [FIRST_PETITION, URGENT]


def test_seasonal_keywords_only_in_their_months(rules: FlagRules) -> None:
    answers = _answers("老板拖欠工资不给，我们去讨薪被赶出来")
    assert URGENT in rules.flags(answers, 0, on=date(2026, 12, 20))
    assert URGENT in rules.flags(answers, 0, on=date(2027, 1, 5))
    assert URGENT in rules.flags(answers, 0, on=date(2026, 2, 28))
    assert URGENT not in rules.flags(answers, 0, on=date(2026, 3, 1))
    assert URGENT not in rules.flags(answers, 0, on=date(2026, 7, 14))
    assert URGENT not in rules.flags(answers, 0)  # no date: base keywords only


def test_group_threshold_configurable() -> None:
    assert GROUP_PETITION in registration_flags({"people_count": 5}, 0)
    assert GROUP_PETITION not in registration_flags({"people_count": 4}, 0)
    assert GROUP_PETITION in registration_flags({"people_count": 3}, 0, group_min_people=3)


def test_fixture_flags(rules: FlagRules) -> None:
    """Urgent, group and repeat flags on every fixture petition, with history in date order."""
    items = petitions()
    urgent = set(raw()["urgent"])
    group = set(raw()["group"])
    repeats = {entry["case"] for entry in raw()["repeats"]}
    by_date = sorted(items.values(), key=lambda p: (p.date, p.text.case_id))
    for index, petition in enumerate(by_date):
        new = petition.text
        earlier = [p.text for p in by_date[:index]]
        mine = [p for p in earlier if same_citizen(new, p)]
        repeat = is_repeat(new, earlier, threshold=rules.repeat_threshold)
        answers = _answers(new.text, petition.people, reported_before="no")
        flags = rules.flags(answers, len(mine), repeat=repeat, on=petition.date)
        case_id = new.case_id
        assert (URGENT in flags) is (case_id in urgent), (case_id, flags)
        assert (GROUP_PETITION in flags) is (case_id in group), (case_id, flags)
        assert (REPEAT_PETITION in flags) is (case_id in repeats), (case_id, flags)
        assert (FIRST_PETITION in flags) is (not mine), (case_id, flags)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("group_min_people: 5", "group_min_people: 1", "'group_min_people' must be"),
        ("    months: [12, 1, 2]", "    months: [12, 13]",
         "seasonal_keywords[0] (年底讨薪): 'months' must be a list of 1..12"),
        ("duplicate_threshold: 0.13", "duplicate_threshold: 2", "'duplicate_threshold' must be"),
        ("urgent_keywords: [自杀,", "urgent_keywords: ['！！', 自杀,",
         "urgent_keywords[0] must be"),
        ("  - name: 年底讨薪\n", "  - months: [1]\n", "seasonal_keywords[0]: 'name' is required"),
    ],
)  # fmt: skip
def test_validation_names_the_key(config: Path, old: str, new: str, message: str) -> None:
    path = config / "flags.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(FlagRulesError) as info:
        load_flag_rules(config)
    assert "config/flags.yaml" in str(info.value)
    assert message in str(info.value)
