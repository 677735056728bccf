"""A small shared key-value store with expiry and compare-and-set (tokens, offsets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.sql import insert_ignore
from bot.storage.tables import kv


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored value with its version and expiry."""

    value: Any
    version: int
    expires_at: datetime | None


async def get(conn: AsyncConnection, key: str, *, lock: bool = False) -> Entry | None:
    """Read a key; ``lock`` holds its row until commit (PostgreSQL), for refresh-once logic."""
    stmt = select(kv.c.value, kv.c.version, kv.c.expires_at).where(kv.c.key == key)
    if lock:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).one_or_none()
    return Entry(row.value, row.version, row.expires_at) if row else None


async def put(
    conn: AsyncConnection,
    key: str,
    value: Any,
    now: datetime,
    *,
    expires_at: datetime | None = None,
    expect_version: int | None = None,
) -> bool:
    """Write a key; with ``expect_version`` only if nobody changed it since (returns success)."""
    if expect_version in (None, 0):
        created = await insert_ignore(
            conn,
            kv,
            {"key": key, "value": value, "version": 1, "expires_at": expires_at, "updated_at": now},
            ["key"],
        )
        if created is not None:
            return True
        if expect_version == 0:
            return False  # someone created it first
    stmt = update(kv).where(kv.c.key == key)
    if expect_version is not None:
        stmt = stmt.where(kv.c.version == expect_version)
    result = await conn.execute(
        stmt.values(value=value, version=kv.c.version + 1, expires_at=expires_at, updated_at=now)
    )
    return result.rowcount == 1
