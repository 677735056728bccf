"""Golden transcripts: inputs -> replies, verbatim. Regenerate with UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from .harness import run_transcript

TRANSCRIPTS = sorted((Path(__file__).parent / "transcripts").glob("*.yaml"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings so transcripts stay readable."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
def test_transcript(path: Path) -> None:
    doc = _load(path)
    outcomes = run_transcript(doc)
    if UPDATE:
        for spec, outcome in zip(doc["steps"], outcomes, strict=True):
            spec.pop("expect", None)
            if outcome:
                spec["expect"] = outcome
        path.write_text(
            yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000),
            encoding="utf-8",
        )
        return
    for i, (spec, outcome) in enumerate(zip(doc["steps"], outcomes, strict=True), 1):
        if not outcome:
            continue
        assert "expect" in spec, f"step {i} has no recorded expectation; run UPDATE_GOLDEN=1"
        assert outcome == spec["expect"], f"{path.name} step {i}: {spec}"


def test_transcripts_exist() -> None:
    assert len(TRANSCRIPTS) >= 10
