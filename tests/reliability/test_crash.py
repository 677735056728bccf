"""The crash test's short form (CI): a dozen citizens, a few SIGKILLs, every check green.

The long form runs by hand: ``python -m tests.reliability.crash --citizens 500 --kills 10``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.storage.db import Database
from tests.reliability.crash import Config, run

pytestmark = pytest.mark.e2e


async def test_citizens_survive_sigkills_on_postgresql(pg_db: Database, tmp_path: Path) -> None:
    report = await run(Config(citizens=12, kills=3, servers=2, seed=7), pg_db.url, tmp_path)
    print("\n".join(report.lines()))
    assert report.ok, "\n".join(report.lines())
    assert report.kills == 3 and report.finished == 12 and report.cases == 12
    assert report.pushes_due == 12 and report.pushes_delivered == 12


async def test_citizens_survive_sigkills_on_sqlite(tmp_path: Path) -> None:
    from bot.storage.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'xinfang.sqlite3'}"
    db = Database(url)
    await upgrade(db)
    await db.dispose()
    report = await run(Config(citizens=6, kills=2, servers=1, seed=11), url, tmp_path)
    print("\n".join(report.lines()))
    assert report.ok, "\n".join(report.lines())
    assert report.kills == 2 and report.finished == 6 and report.cases == 6
