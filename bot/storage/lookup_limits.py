"""Failed attempts, counted per key in the database: look-ups of other people's cases
(per target case and per client) and staff logins (per login name, known or not).

Shared by every process and session (a fresh web-chat cookie does not reset them): past
the limit within the window, the key is locked until ``locked_until``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.sql import insert_ignore
from bot.storage.tables import lookup_limits


@dataclass(frozen=True, slots=True)
class Limit:
    """How many failures a key may have within ``window`` before it is locked for ``lock``."""

    failures: int
    window: timedelta
    lock: timedelta


def client_key(client: str) -> str:
    """The stored key of a client (a network address or platform id): a hash, never raw."""
    return hashlib.sha256(client.encode()).hexdigest()[:40]


async def locked_until(
    conn: AsyncConnection, keys: list[tuple[str, str]], now: datetime
) -> datetime | None:
    """The latest lock still in force on any of ``keys`` ((scope, key) pairs), else None."""
    if not keys:
        return None
    rows = await conn.execute(
        select(lookup_limits.c.scope, lookup_limits.c.key, lookup_limits.c.locked_until).where(
            lookup_limits.c.locked_until.is_not(None),
            lookup_limits.c.scope.in_({s for s, _ in keys}),
            lookup_limits.c.key.in_({k for _, k in keys}),
        )
    )
    wanted = set(keys)
    until = [
        r.locked_until
        for r in rows
        if (r.scope, r.key) in wanted and r.locked_until is not None and r.locked_until > now
    ]
    return max(until) if until else None


async def record_failure(
    conn: AsyncConnection, scope: str, key: str, now: datetime, limit: Limit
) -> datetime | None:
    """Count one failure; returns the new lock's end when this failure locked the key."""
    await insert_ignore(
        conn,
        lookup_limits,
        {"scope": scope, "key": key, "window_start": now, "failures": 0, "locked_until": None},
        ["scope", "key"],
    )
    where = (lookup_limits.c.scope == scope, lookup_limits.c.key == key)
    row = (
        await conn.execute(
            select(lookup_limits.c.window_start, lookup_limits.c.failures)
            .where(*where)
            .with_for_update()
        )
    ).one()
    start, failures = row.window_start, row.failures
    if now - start > limit.window:
        start, failures = now, 0
    failures += 1
    until = now + limit.lock if failures >= limit.failures else None
    values: dict[str, object] = {"window_start": start, "failures": failures}
    if until is not None:
        values.update(locked_until=until, window_start=now, failures=0)
    await conn.execute(update(lookup_limits).where(*where).values(**values))
    return until


async def clear(conn: AsyncConnection, scope: str, key: str) -> None:
    """Forget a key's failures and lift its lock."""
    await conn.execute(
        delete(lookup_limits).where(lookup_limits.c.scope == scope, lookup_limits.c.key == key)
    )
