"""Shared fixtures: real databases (an SQLite file and a PostgreSQL server), fixed clocks.

PostgreSQL: ``XINFANG_TEST_PG_URL`` (default the local server's ``test`` database). Each
test run creates its own throwaway database next to it, so concurrent runs don't collide.
When the server is unreachable the PostgreSQL variants are skipped, unless
``XINFANG_TEST_REQUIRE_PG=1`` (CI), which makes that a failure.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.storage.tables import metadata

PG_URL = os.environ.get("XINFANG_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("XINFANG_TEST_REQUIRE_PG") == "1"
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

# CI (HYPOTHESIS_PROFILE=ci) runs the same examples every time, so a landing never depends
# on a lucky draw and never spends minutes shrinking; sessions keep exploring at random.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _create_pg_database() -> str | None:
    """Create a throwaway database; returns its SQLAlchemy URL, or None if unreachable."""
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if REQUIRE_PG:
            raise RuntimeError(f"PostgreSQL required but unreachable at {PG_URL}: {exc}") from exc
        return None
    name = f"xinfang_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(url: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    """A migrated throwaway PostgreSQL database for this run (None when unavailable)."""
    url = asyncio.run(_create_pg_database())
    if url is not None:

        async def migrate() -> None:
            db = Database(url)
            await upgrade(db)
            await db.dispose()

        asyncio.run(migrate())
    yield url
    if url is not None:
        asyncio.run(_drop_pg_database(url))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str | None) -> str:
    """The URL of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'xinfang.sqlite3'}"
    if pg_url is None:
        pytest.skip("PostgreSQL not reachable (set XINFANG_TEST_REQUIRE_PG=1 to fail instead)")
    return pg_url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database (SQLite file per test; PostgreSQL truncated per test)."""
    database = Database(db_url)
    if database.is_postgres:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        async with database.transaction() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        await upgrade(database)
    yield database
    await database.dispose()


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 1, 30, tzinfo=UTC)  # Mon 09:30 Beijing

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FixedClock:
    """A fixed clock starting on a Monday morning, Beijing time."""
    return FixedClock()
