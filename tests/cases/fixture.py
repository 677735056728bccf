"""The annotated petition fixture (tests/cases/fixtures/petitions.yaml)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.cases.similarity import PetitionText

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "petitions.yaml"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@dataclass(frozen=True)
class Petition:
    """One fixture petition with its date and number of people."""

    text: PetitionText
    people: int
    date: date


@cache
def raw() -> dict[str, Any]:
    """The fixture document."""
    data: dict[str, Any] = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    return data


@cache
def petitions() -> dict[int, Petition]:
    """Every petition by id."""
    return {
        p["id"]: Petition(
            PetitionText(
                case_id=p["id"],
                contact_id=p["contact"],
                phone=p["phone"],
                region=p["region"],
                category=p["category"],
                text=p["text"],
            ),
            people=p["people"],
            date=p["date"],
        )
        for p in raw()["petitions"]
    }


def duplicate_pairs() -> set[frozenset[int]]:
    """Every annotated duplicate pair."""
    return {
        frozenset(pair)
        for group in raw()["duplicate_groups"]
        for pair in itertools.combinations(group, 2)
    }
