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
    case,
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
# why a contact an audience matches gets no broadcast, in the order they are told apart
LEFT_OUT_REASONS = ("channel_off", "unreachable", "unsubscribed")


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
    return where + audience_clauses(case_where)


def audience_clauses(
    case_where: Sequence[ColumnElement[bool]] | None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses on ``contacts``: the contacts an audience matches, reachable or not."""
    if case_where is None:
        return []
    return [
        exists(select(1).select_from(cases).where(cases.c.contact_id == contacts.c.id, *case_where))
    ]


async def left_out_by_reason(
    conn: AsyncConnection,
    case_where: Sequence[ColumnElement[bool]] | None,
    channels: Collection[str] | None,
) -> dict[str, int]:
    """Contacts the audience matches that get no message, per reason (LEFT_OUT_REASONS):
    their channel is not enabled, they cannot be reached (unfollowed, blocked the bot),
    or they unsubscribed from broadcasts. A contact counts once, for the first reason."""
    whens: list[tuple[ColumnElement[bool], str]] = []
    if channels is not None:
        whens.append((contacts.c.channel.not_in(sorted(channels)), "channel_off"))
    whens.append((contacts.c.reachable.is_(False), "unreachable"))
    whens.append((contacts.c.broadcast_opt_out.is_(True), "unsubscribed"))
    reason = case(*whens, else_=None).label("reason")
    matched = select(reason).where(*audience_clauses(case_where)).subquery()
    rows = await conn.execute(
        select(matched.c.reason, func.count())
        .where(matched.c.reason.is_not(None))
        .group_by(matched.c.reason)
    )
    found = {str(r[0]): int(r[1]) for r in rows}
    return {name: found.get(name, 0) for name in LEFT_OUT_REASONS}


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
    status: str = "sending",
    scheduled_at: datetime | None = None,
) -> int:
    """A new broadcast row (``sending``, ``awaiting`` approval or ``scheduled``); its id."""
    result = await conn.execute(
        insert(broadcasts)
        .values(
            created_by=created_by[:64],
            created_at=now,
            text=text,
            audience=audience,
            status=status,
            total=0,
            scheduled_at=scheduled_at,
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
    scheduled_at: datetime | None = None
    decided_by: str = ""
    decided_at: datetime | None = None


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
        scheduled_at=r.scheduled_at,
        decided_by=r.decided_by or "",
        decided_at=r.decided_at,
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


async def move(
    conn: AsyncConnection, broadcast_id: int, before: str, after: str, **values: Any
) -> bool:
    """Change a broadcast's status from ``before`` to ``after`` (with other columns); False
    when it is no longer ``before`` (another process or account got there first)."""
    result = await conn.execute(
        update(broadcasts)
        .where(broadcasts.c.id == broadcast_id, broadcasts.c.status == before)
        .values(status=after, **values)
    )
    return bool(result.rowcount)


async def due(conn: AsyncConnection, now: datetime, limit: int = 20) -> list[BroadcastRow]:
    """Scheduled broadcasts whose time has come, oldest first."""
    rows = await conn.execute(
        select(broadcasts)
        .where(broadcasts.c.status == "scheduled", broadcasts.c.scheduled_at <= now)
        .order_by(broadcasts.c.scheduled_at, broadcasts.c.id)
        .limit(limit)
    )
    return [_row(r) for r in rows]


async def awaiting(conn: AsyncConnection, limit: int = 50) -> list[BroadcastRow]:
    """Broadcasts waiting for a second account's approval, oldest first."""
    rows = await conn.execute(
        select(broadcasts)
        .where(broadcasts.c.status == "awaiting")
        .order_by(broadcasts.c.id)
        .limit(limit)
    )
    return [_row(r) for r in rows]


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
        .where(
            broadcasts.c.id == broadcast_id,
            broadcasts.c.status.in_(("sending", "awaiting", "scheduled")),
        )
        .values(status="cancelled", cancelled_at=now, finished_at=now)
    )
    return int(result.rowcount or 0)
