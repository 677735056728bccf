"""Smoke test of bench/: the short path of the case benchmark runs and reports (no thresholds).

Speed is measured by `make bench`, never asserted here; this only keeps the benchmark
code from rotting (imports, the generator, the queries it times, the report file).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import cases, common


async def test_case_benchmark_runs_on_a_tiny_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    url = f"sqlite+aiosqlite:///{tmp_path / 'cases.sqlite3'}"
    await cases.generate(url, 400)
    result = await cases.measure(url, lookups=20, repeats=2)
    assert result["cases"] == 400
    assert result["status_p99_ms"] > 0
    assert {row["query"].split(" [")[0] for row in result["list"]} >= {
        "overdue",
        "full text 拖欠工资",
    }
    common.report("cases", [{"db": "sqlite", "cases": result["cases"]}])
    saved = json.loads((tmp_path / "results" / "cases.json").read_text())
    assert saved["results"][0]["cases"] == 400
    assert saved["machine"]["cpus"] >= 1
