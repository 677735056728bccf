"""Broadcasts: the recipients of an audience, their outbox rows, progress and cancellation.

Recipients are contacts, not cases: a citizen with three matching cases on one channel
gets one message. Only contacts that can be reached and have not opted out count.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.tables import Json, UTCDateTime, broadcasts, cases, contacts, outbox

BROADCAST_KIND = "broadcast"


def recipient_clauses(
    case_where: Sequence[ColumnElement[bool]] | None,
    channels: Collection[str] | None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses on ``contacts`` selecting the recipients.

    ``case_where``: the contact must have at least one case matching these clauses (an
    empty list: any case at all); None: every contact, with or without a case.
    ``channels``: only contacts on these channels (None: any).
    """
    where: list[ColumnElement[bool]] = [
        contacts.c.reachable.is_(True),
        contacts.c.broadcast_opt_out.is_(False),
    ]
    if channels is not None:
        where.append(contacts.c.channel.in_(sorted(channels)))
    if case_where is not None:
        where.append(
            exists(
                select(1).select_from(cases).where(cases.c.contact_id == contacts.c.id, *case_where)
            )
        )
    return where


async def count_by_channel(
    conn: AsyncConnection, where: Sequence[ColumnElement[bool]]
) -> dict[str, int]:
    """Distinct recipient contacts per channel."""
    rows = await conn.execute(
        select(contacts.c.channel, func.count())
        .where(*where)
        .group_by(contacts.c.channel)
        .order_by(contacts.c.channel)
    )
    return {str(r[0]): int(r[1]) for r in rows}


async def insert_broadcast(
    conn: AsyncConnection,
    *,
    created_by: str,
    text: str,
    audience: dict[str, Any],
    now: datetime,
) -> int:
    """A new broadcast row in status ``sending``; returns its id."""
    result = await conn.execute(
        insert(broadcasts)
        .values(
            created_by=created_by[:64],
            created_at=now,
            text=text,
            audience=audience,
            status="sending",
            total=0,
        )
        .returning(broadcasts.c.id)
    )
    return int(result.scalar_one())


async def enqueue_recipients(
    conn: AsyncConnection,
    broadcast_id: int,
    where: Sequence[ColumnElement[bool]],
    payload: dict[str, Any],
    now: datetime,
) -> int:
    """One pending outbox row per recipient, in a single INSERT … SELECT; returns the count.

    One statement is atomic (all rows or none) and avoids a round trip per recipient.
    """
    source: Select[Any] = select(
        contacts.c.id,
        contacts.c.channel,
        contacts.c.address,
        literal(BROADCAST_KIND),
        literal(payload, Json),
        literal("pending"),
        literal(0),
        literal(now, UTCDateTime()),
        literal(now, UTCDateTime()),
        literal(broadcast_id),
    ).where(*where)
    await conn.execute(
        insert(outbox).from_select(
            [
                "contact_id",
                "channel",
                "address",
                "kind",
                "payload",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
                "broadcast_id",
            ],
            source,
        )
    )
    total = int(
        (
            await conn.execute(select(func.count()).where(outbox.c.broadcast_id == broadcast_id))
        ).scalar_one()
    )
    await conn.execute(
        update(broadcasts).where(broadcasts.c.id == broadcast_id).values(total=total)
    )
    return total


@dataclass(frozen=True, slots=True)
class BroadcastRow:
    """A broadcast as stored."""

    id: int
    created_by: str
    created_at: datetime
    text: str
    audience: dict[str, Any]
    status: str
    total: int
    finished_at: datetime | None
    cancelled_at: datetime | None


def _row(r: Any) -> BroadcastRow:
    return BroadcastRow(
        id=r.id,
        created_by=r.created_by,
        created_at=r.created_at,
        text=r.text,
        audience=dict(r.audience or {}),
        status=r.status,
        total=int(r.total),
        finished_at=r.finished_at,
        cancelled_at=r.cancelled_at,
    )


async def get(conn: AsyncConnection, broadcast_id: int) -> BroadcastRow | None:
    """A broadcast by id."""
    row = (
        await conn.execute(select(broadcasts).where(broadcasts.c.id == broadcast_id))
    ).one_or_none()
    return _row(row) if row else None


async def recent(conn: AsyncConnection, limit: int) -> list[BroadcastRow]:
    """The newest broadcasts first."""
    rows = await conn.execute(select(broadcasts).order_by(broadcasts.c.id.desc()).limit(limit))
    return [_row(r) for r in rows]


async def status_counts(
    conn: AsyncConnection, broadcast_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    """Outbox rows per status of each broadcast (uses the (broadcast_id, status) index)."""
    if not broadcast_ids:
        return {}
    rows = await conn.execute(
        select(outbox.c.broadcast_id, outbox.c.status, func.count())
        .where(outbox.c.broadcast_id.in_(list(broadcast_ids)))
        .group_by(outbox.c.broadcast_id, outbox.c.status)
    )
    out: dict[int, dict[str, int]] = {bid: {} for bid in broadcast_ids}
    for bid, status, n in rows:
        out[int(bid)][str(status)] = int(n)
    return out


async def finish(conn: AsyncConnection, broadcast_id: int, now: datetime) -> bool:
    """Mark a sending broadcast done when none of its rows is pending or sending."""
    unsettled = exists(
        select(1).where(
            outbox.c.broadcast_id == broadcast_id,
            outbox.c.status.in_(("pending", "sending")),
        )
    )
    result = await conn.execute(
        update(broadcasts)
        .where(broadcasts.c.id == broadcast_id, broadcasts.c.status == "sending", ~unsettled)
        .values(status="done", finished_at=now)
    )
    return bool(result.rowcount)


async def cancel(conn: AsyncConnection, broadcast_id: int, now: datetime) -> int:
    """Cancel the broadcast's pending rows (claimed rows finish); returns how many."""
    result = await conn.execute(
        update(outbox)
        .where(
            and_(outbox.c.broadcast_id == broadcast_id, outbox.c.status == "pending"),
        )
        .values(status="cancelled", lease_until=None)
    )
    await conn.execute(
        update(broadcasts)
        .where(broadcasts.c.id == broadcast_id, broadcasts.c.status == "sending")
        .values(status="cancelled", cancelled_at=now, finished_at=now)
    )
    return int(result.rowcount or 0)
