"""Similarity, duplicate suggestions and 重复访 on the annotated fixture, plus properties."""

from __future__ import annotations

from collections import Counter

import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.cases.similarity import (
    PetitionText,
    is_repeat,
    normalise,
    same_citizen,
    similarity,
    suggest_duplicates,
)

from .fixture import CONFIG_DIR, duplicate_pairs, petitions, raw

chinese = st.text(
    alphabet=st.sampled_from("拖欠工资工地小区噪音拆迁补偿评估村委会征地款，。！ 😀ＡＢ１２abc"),
    max_size=80,
)


def test_fixture_is_realistic_and_varied() -> None:
    items = petitions()
    assert len(items) >= 50
    assert len({p.text.category for p in items.values()}) >= 12
    assert len({p.text.region for p in items.values()}) >= 12
    assert len(duplicate_pairs()) >= 15
    annotated = {i for pair in duplicate_pairs() for i in pair}
    assert annotated <= set(items)


def test_suggestions_match_the_annotations_exactly() -> None:
    """Recall: every near-duplicate is suggested; precision: nothing unrelated is."""
    items = petitions()
    found: set[frozenset[int]] = set()
    for new in items.values():
        others = [p.text for p in items.values()]
        for case_id, score in suggest_duplicates(new.text, others, limit=10):
            assert 0 < score <= 1
            found.add(frozenset((new.text.case_id, case_id)))
    expected = duplicate_pairs()
    assert sorted(map(sorted, expected - found)) == [], "missed near-duplicates"
    assert sorted(map(sorted, found - expected)) == [], "unrelated petitions suggested"


def test_suggestions_sorted_limited_and_scoped() -> None:
    items = petitions()
    new = items[1].text
    others = [p.text for p in items.values()]
    hits = suggest_duplicates(new, others)
    assert [case_id for case_id, _ in hits] == [2, 3]
    assert hits[0][1] >= hits[1][1]
    assert suggest_duplicates(new, others, limit=1) == hits[:1]
    # Same text but another region or category is not suggested; nor is the case itself.
    moved = [
        PetitionText(90, 900, "", "330105", "labour", new.text),
        PetitionText(91, 901, "", "330106", "welfare", new.text),
        new,
    ]
    assert suggest_duplicates(new, moved) == []
    same = PetitionText(92, 902, "", "330106", "labour", new.text)
    assert suggest_duplicates(new, [same]) == [(92, 1.0)]


def test_repeats_match_the_annotations() -> None:
    items = petitions()
    for entry in raw()["repeats"]:
        new, earlier = items[entry["case"]].text, items[entry["earlier"]].text
        assert same_citizen(new, earlier)
        assert is_repeat(new, [earlier]), entry
    for entry in raw()["not_repeats"]:
        new, earlier = items[entry["case"]].text, items[entry["earlier"]].text
        assert same_citizen(new, earlier)
        assert not is_repeat(new, [earlier]), entry


def test_no_repeat_without_an_earlier_petition_of_the_same_citizen() -> None:
    items = petitions()
    repeats = {entry["case"] for entry in raw()["repeats"]}
    for case_id, petition in items.items():
        earlier = [p.text for i, p in items.items() if i < case_id]
        assert is_repeat(petition.text, earlier) is (case_id in repeats), case_id


def test_same_text_from_another_citizen_is_not_a_repeat() -> None:
    a = petitions()[1].text
    b = PetitionText(99, 999, "13900000000", a.region, a.category, a.text)
    assert not is_repeat(b, [a])
    # An empty phone never identifies a citizen.
    c = PetitionText(98, 998, "", a.region, a.category, a.text)
    d = PetitionText(97, 997, "", a.region, a.category, a.text)
    assert not same_citizen(c, d)
    assert not is_repeat(c, [d])
    assert not is_repeat(a, [a])


def test_normalise() -> None:
    assert normalise("  拖欠　工资！！😡 ＡＢＣ１２３ ") == "拖欠工资abc123"
    assert similarity("拖欠工资，请帮忙。", "拖欠 工资 请帮忙") == 1.0
    assert similarity("", "拖欠工资") == 0.0
    assert similarity("！！！", "？？？") == 0.0


def test_short_texts_use_single_characters() -> None:
    assert similarity("欠薪", "讨薪") > 0
    assert similarity("欠薪", "噪音") == 0.0


def test_reworded_beats_unrelated() -> None:
    a = "之江花园三期工地宏达劳务拖欠工资"
    assert similarity(a, "宏达劳务在之江花园三期工地欠我们工资") > similarity(
        a, "文三路星辰网络科技公司拖欠我两个月工资"
    )


@given(chinese, chinese)
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    score = similarity(a, b)
    assert score == similarity(b, a)
    assert 0.0 <= score <= 1.0


@given(chinese)
def test_identical_text_scores_one(a: str) -> None:
    assert similarity(a, a) == 1.0


@given(st.text(max_size=60), st.text(max_size=60))
def test_any_unicode_is_safe(a: str, b: str) -> None:
    score = similarity(a, b)
    assert 0.0 <= score <= 1.0
    assert score == similarity(b, a)


def test_fixture_categories_and_regions_exist() -> None:
    regions = {
        r["code"] for r in yaml.safe_load((CONFIG_DIR / "regions.yaml").read_text())["regions"]
    }
    categories = {
        c["code"]
        for c in yaml.safe_load((CONFIG_DIR / "categories.yaml").read_text())["categories"]
    }
    counts = Counter((p.text.region, p.text.category) for p in petitions().values())
    assert {region for region, _ in counts} <= regions
    assert {category for _, category in counts} <= categories
    ids = [p["id"] for p in raw()["petitions"]]
    assert len(ids) == len(set(ids))
