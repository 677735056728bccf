"""The outbox table: every message that is not the direct answer to a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.messages import Address, OutboundMessage, Reply
from bot.storage.tables import outbox

BROADCAST = "broadcast"  # the kind of broadcast rows: after replies and pushes


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A claimed outbox row, ready to send."""

    id: int
    contact_id: int
    address: Address
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    reclaimed: bool = False  # taken over from an expired lease: it may have been sent

    def message(self) -> OutboundMessage:
        """The channel-neutral message this row asks to deliver."""
        return OutboundMessage(
            address=self.address,
            reply=Reply.from_json(self.payload),
            kind=self.kind,
            outbox_id=self.id,
            idempotency_key=f"xf-outbox-{self.id}",
            template=self.payload.get("template") or {},
        )


async def enqueue(
    conn: AsyncConnection,
    *,
    contact_id: int,
    address: Address,
    reply: Reply,
    now: datetime,
    kind: str = "push",
    case_id: int | None = None,
    template: dict[str, Any] | None = None,
) -> int:
    """Write one message to the outbox, in the caller's transaction."""
    payload = reply.to_json()
    if template:
        payload["template"] = template
    result = await conn.execute(
        insert(outbox)
        .values(
            contact_id=contact_id,
            channel=address.channel,
            address=address.address,
            kind=kind,
            payload=payload,
            case_id=case_id,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        .returning(outbox.c.id)
    )
    return int(result.scalar_one())


async def claim_due(
    conn: AsyncConnection,
    *,
    worker: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    channels: list[str],
) -> list[OutboxRow]:
    """Claim due rows for this worker: pending ones, and sending ones whose lease expired.

    A row is not claimed while an earlier row of the same contact is held back (waiting
    for a retry, or leased to a worker that may still be sending it): one chat's
    messages go out in order. Rows are taken oldest first, so an earlier row is never
    left out of a batch that takes a later one of its chat.

    Broadcast rows come last: replies and case pushes due at the same time are taken
    before them (each kind oldest first), and a broadcast row never holds back a later
    reply or push of its chat, so a broadcast to thousands never delays a citizen's
    conversation; a broadcast may reach a chat after a newer reply.

    PostgreSQL skips rows other workers hold (FOR UPDATE SKIP LOCKED); on SQLite the
    write transaction is already exclusive.
    """
    earlier = outbox.alias("earlier")
    held_back = (
        select(earlier.c.id)
        .where(
            earlier.c.contact_id == outbox.c.contact_id,
            earlier.c.id < outbox.c.id,
            or_(earlier.c.kind != BROADCAST, outbox.c.kind == BROADCAST),
            or_(
                (earlier.c.status == "pending") & (earlier.c.next_attempt_at > now),
                (earlier.c.status == "sending") & (earlier.c.lease_until >= now),
            ),
        )
        .exists()
    )
    due = (
        select(outbox.c.id, outbox.c.status)
        .where(
            outbox.c.channel.in_(channels),
            or_(
                (outbox.c.status == "pending") & (outbox.c.next_attempt_at <= now),
                (outbox.c.status == "sending") & (outbox.c.lease_until < now),
            ),
            ~held_back,
        )
        .order_by(case((outbox.c.kind == BROADCAST, 1), else_=0), outbox.c.id)
        .limit(limit)
        .with_for_update(of=outbox, skip_locked=True)
    )
    found = (await conn.execute(due)).all()
    if not found:
        return []
    ids = [r.id for r in found]
    reclaimed = {r.id for r in found if r.status == "sending"}
    rows = (
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(status="sending", lease_until=now + lease, claimed_by=worker)
            .returning(
                outbox.c.id,
                outbox.c.contact_id,
                outbox.c.channel,
                outbox.c.address,
                outbox.c.kind,
                outbox.c.payload,
                outbox.c.attempts,
                outbox.c.created_at,
            )
        )
    ).all()
    return sorted(
        (
            OutboxRow(
                id=r.id,
                contact_id=r.contact_id,
                address=Address(r.channel, r.address),
                kind=r.kind,
                payload=r.payload,
                attempts=r.attempts,
                created_at=r.created_at,
                reclaimed=r.id in reclaimed,
            )
            for r in rows
        ),
        key=lambda row: row.id,
    )


async def mark_sent(
    conn: AsyncConnection, row_id: int, worker: str, now: datetime, external_id: str = ""
) -> None:
    """Record a delivery (only while this worker still holds the row)."""
    await conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.claimed_by == worker)
        .values(
            status="sent",
            sent_at=now,
            external_id=external_id or None,
            attempts=outbox.c.attempts + 1,
            lease_until=None,
        )
    )


async def reschedule(
    conn: AsyncConnection,
    row_id: int,
    worker: str,
    at: datetime,
    *,
    error: str = "",
    count_attempt: bool = True,
) -> None:
    """Put a row back to pending until ``at`` (a retry, or a rate-limit wait)."""
    values: dict[str, Any] = {"status": "pending", "next_attempt_at": at, "lease_until": None}
    if count_attempt:
        values["attempts"] = outbox.c.attempts + 1
    if error:
        values["last_error"] = error[:2000]
    await conn.execute(
        update(outbox).where(outbox.c.id == row_id, outbox.c.claimed_by == worker).values(**values)
    )


async def mark_failed(conn: AsyncConnection, row_id: int, worker: str, error: str) -> None:
    """Give up on a row for good."""
    await conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.claimed_by == worker)
        .values(
            status="failed",
            last_error=error[:2000],
            attempts=outbox.c.attempts + 1,
            lease_until=None,
        )
    )


async def release(conn: AsyncConnection, worker: str) -> None:
    """Hand back every row this worker holds (graceful shutdown)."""
    await conn.execute(
        update(outbox)
        .where(outbox.c.claimed_by == worker, outbox.c.status == "sending")
        .values(status="pending", lease_until=None)
    )


async def delivered_to(
    conn: AsyncConnection, contact_id: int, after_id: int = 0, limit: int = 200
) -> list[Any]:
    """Messages delivered to a contact after ``after_id``, oldest first (mailbox channels)."""
    return list(
        (
            await conn.execute(
                select(outbox.c.id, outbox.c.payload, outbox.c.sent_at, outbox.c.created_at)
                .where(
                    outbox.c.contact_id == contact_id,
                    outbox.c.id > after_id,
                    outbox.c.status == "sent",
                )
                .order_by(outbox.c.id)
                .limit(limit)
            )
        ).all()
    )


async def delivered_before_last(conn: AsyncConnection, contact_id: int, n: int) -> int:
    """The id of the delivered row just before the last ``n`` (0 when there are fewer)."""
    row = (
        await conn.execute(
            select(outbox.c.id)
            .where(outbox.c.contact_id == contact_id, outbox.c.status == "sent")
            .order_by(outbox.c.id.desc())
            .offset(n)
            .limit(1)
        )
    ).scalar_one_or_none()
    return int(row) if row is not None else 0


async def counts_by_status(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    """Row counts per (channel, status), for /metrics and /readyz."""
    rows = await conn.execute(
        select(outbox.c.channel, outbox.c.status, func.count()).group_by(
            outbox.c.channel, outbox.c.status
        )
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}
