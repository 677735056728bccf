"""Fixtures of the reliability tests: a PostgreSQL database shared by server processes, fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from bot.storage.db import Database
from bot.storage.tables import metadata
from tests.channels.wechat.payloads import APP_ID
from tests.fakes_telegram import FakeTelegram
from tests.fakes_wechat import FakeWeChat


@pytest.fixture
async def pg_db(pg_url: str | None) -> AsyncIterator[Database]:
    """The run's PostgreSQL database, emptied (scale-out needs a shared server database)."""
    if pg_url is None:
        pytest.skip("PostgreSQL not reachable (set XINFANG_TEST_REQUIRE_PG=1 to fail instead)")
    database = Database(pg_url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with database.transaction() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield database
    await database.dispose()


@pytest.fixture
async def fake_wechat() -> AsyncIterator[FakeWeChat]:
    """A running fake WeChat API."""
    server = FakeWeChat(app_id=APP_ID)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A running fake Bot API with room for several processes sending at once."""
    server = FakeTelegram(global_rate=1000, chat_interval=0.01)
    await server.start()
    yield server
    await server.stop()
