"""The shared key-value store, on both databases."""

from __future__ import annotations

from datetime import timedelta

from bot.storage import kv
from bot.storage.db import Database
from tests.conftest import FixedClock


async def test_put_get_and_compare_and_set(db: Database, clock: FixedClock) -> None:
    async with db.transaction() as conn:
        assert await kv.get(conn, "wechat.token") is None
        assert await kv.put(conn, "wechat.token", {"t": "a"}, clock.now, expect_version=0)
        entry = await kv.get(conn, "wechat.token")
    assert entry is not None and entry.value == {"t": "a"} and entry.version == 1
    expiry = clock.now + timedelta(hours=2)
    async with db.transaction() as conn:
        assert await kv.put(
            conn, "wechat.token", {"t": "b"}, clock.now, expires_at=expiry, expect_version=1
        )
        assert not await kv.put(conn, "wechat.token", {"t": "c"}, clock.now, expect_version=1)
        entry = await kv.get(conn, "wechat.token", lock=True)
    assert entry is not None and entry.value == {"t": "b"} and entry.version == 2
    assert entry.expires_at == expiry
    async with db.transaction() as conn:
        assert not await kv.put(conn, "telegram.offset", 5, clock.now, expect_version=3)
        assert await kv.get(conn, "telegram.offset") is None
        assert await kv.put(conn, "telegram.offset", 4, clock.now)
        assert not await kv.put(conn, "telegram.offset", 5, clock.now, expect_version=0)
        assert await kv.put(conn, "telegram.offset", 6, clock.now)
        entry = await kv.get(conn, "telegram.offset")
    assert entry is not None and entry.value == 6
