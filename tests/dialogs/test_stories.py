"""Story extraction against what a careful clerk writes down, over 100+ real-style stories.

tests/dialogs/stories/stories.yaml holds citizens' first messages as people type them on
phones (dialect words, no punctuation, several messages, numbers in Chinese, landlines and
numbers from abroad, other people's names and phones) with the fields a clerk would
extract. The extraction must be right when it speaks (precision) and speak when the story
states a field (recall), per field.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.dialogs.extract import extract

from .harness import make_config

STORIES = Path(__file__).parent / "stories" / "stories.yaml"
# written independently of the extractor and never used to tune it: how it generalises
HELD_OUT = Path(__file__).parent / "stories" / "held_out.yaml"
FIELDS = ("name", "phone", "address", "region", "category", "request", "appeal_type")
SPANS = ("address", "request")  # copied from the text: the same span, give or take an edge
MIN_PRECISION = 0.95
MIN_RECALL = 0.90
_PUNCT = re.compile(r"[\W_]+")


def _norm(text: str) -> str:
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold())


def same(field: str, got: str, want: str) -> bool:
    """Exact for codes, names and phones; for spans the same words, allowing a clause
    more or less at an edge (a quarter of the length)."""
    if field not in SPANS:
        return got == want
    a, b = _norm(got), _norm(want)
    if not a or not b:
        return False
    shorter, longer = sorted((a, b), key=len)
    return shorter in longer and len(shorter) >= 0.75 * len(longer)


def score(path: Path = STORIES) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Per-field (precision, recall) of the extraction over the stories in ``path``."""
    cfg = make_config()
    stories: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    hits: Counter[str] = Counter()
    said: Counter[str] = Counter()
    stated: Counter[str] = Counter()
    misses: list[str] = []
    for story in stories:
        got = extract("\n".join(story["messages"]), cfg.vocab, cfg.gazetteer)
        want = {k: str(v) for k, v in (story.get("expect") or {}).items()}
        for field in FIELDS:
            if field in got:
                said[field] += 1
            if field in want:
                stated[field] += 1
            if field in got and field in want and same(field, got[field], want[field]):
                hits[field] += 1
            elif field in got or field in want:
                misses.append(
                    f"{story['id']} {field}: got {got.get(field)!r}, want {want.get(field)!r}"
                )
    rates = {
        f: (hits[f] / said[f] if said[f] else 1.0, hits[f] / stated[f] if stated[f] else 1.0)
        for f in FIELDS
    }
    return rates, misses


@pytest.fixture(scope="module")
def scored() -> tuple[dict[str, tuple[float, float]], list[str]]:
    return score()


def test_enough_stories() -> None:
    assert len(yaml.safe_load(STORIES.read_text(encoding="utf-8"))) >= 80


@pytest.mark.parametrize("field", FIELDS)
def test_precision_and_recall(
    field: str, scored: tuple[dict[str, tuple[float, float]], list[str]]
) -> None:
    rates, misses = scored
    precision, recall = rates[field]
    wrong = "\n".join(m for m in misses if m.split()[1] == f"{field}:")
    print(f"{field}: precision {precision:.1%} recall {recall:.1%}")
    assert precision >= MIN_PRECISION, f"{field} precision {precision:.1%}\n{wrong}"
    assert recall >= MIN_RECALL, f"{field} recall {recall:.1%}\n{wrong}"


if __name__ == "__main__":  # python -m tests.dialogs.test_stories [held_out]: the report
    import sys

    chosen = HELD_OUT if sys.argv[1:] == ["held_out"] else STORIES
    rates, misses = score(chosen)
    for f, (p, r) in rates.items():
        print(f"{f:<12} precision {p:6.1%}  recall {r:6.1%}")
    print("\n".join(misses))


# The held-out set was written independently and never used to tune the vocabulary: it
# measures how the extraction generalises (category is the weak field: a subject is often
# only implied). Floors, not targets: they catch a regression.
HELD_OUT_PRECISION = 0.90
HELD_OUT_RECALL = 0.75


def test_held_out_stories_generalise() -> None:
    rates, misses = score(HELD_OUT)
    report = {f: f"{p:.0%}/{r:.0%}" for f, (p, r) in rates.items()}
    print("held out (precision/recall):", report)
    for field, (precision, recall) in rates.items():
        wrong = "\n".join(m for m in misses if m.split()[1] == f"{field}:")
        assert precision >= HELD_OUT_PRECISION, f"{field} {report[field]}\n{wrong}"
        assert recall >= HELD_OUT_RECALL, f"{field} {report[field]}\n{wrong}"
