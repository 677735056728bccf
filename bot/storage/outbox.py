"""The outbox table: every message that is not the direct answer to a request."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.arrival import PAPER
from bot.messages import Address, OutboundMessage, Reply
from bot.storage.tables import UTCDateTime, cases, contacts, outbox

BROADCAST = "broadcast"  # the kind of broadcast rows: after replies and pushes
# A broadcast row whose send may have started when its worker stopped: Telegram and
# WeChat offer no "was it sent" lookup, so it is not sent again by itself (at most once)
UNCONFIRMED = "interrupted while sending: delivery unknown, not resent (retry to send again)"


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
    return await _insert(conn, contact_id, address, reply, kind, case_id, template, now, now)


# Why a row was written failed instead of pending (see :func:`enqueue_undeliverable`):
NOT_CONFIGURED = "channel not configured"  # "channel not configured: sms"
PAPER_ONLY = "no electronic contact: the petitioner is told on paper"


async def enqueue_undeliverable(
    conn: AsyncConnection,
    *,
    contact_id: int,
    address: Address,
    reply: Reply,
    now: datetime,
    kind: str = "push",
    case_id: int | None = None,
    template: dict[str, Any] | None = None,
    error: str,
) -> int:
    """Record a message no channel of this installation can deliver, as failed with
    ``error``: the timeline and the deliveries page show why it did not go out, and no
    worker ever picks it up."""
    return await _insert(
        conn, contact_id, address, reply, kind, case_id, template, now, now, "failed", error
    )


async def _insert(
    conn: AsyncConnection,
    contact_id: int,
    address: Address,
    reply: Reply,
    kind: str,
    case_id: int | None,
    template: dict[str, Any] | None,
    now: datetime,
    due: datetime,
    status: str = "pending",
    error: str | None = None,
) -> int:
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
            status=status,
            attempts=0,
            next_attempt_at=due,
            created_at=now,
            last_error=error,
        )
        .returning(outbox.c.id)
    )
    return int(result.scalar_one())


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One message for :func:`enqueue_many`."""

    contact_id: int
    address: Address
    reply: Reply
    kind: str = "push"
    case_id: int | None = None


async def enqueue_many(conn: AsyncConnection, messages: list[NewMessage], now: datetime) -> None:
    """Write many messages to the outbox in one executemany, in the caller's transaction.

    Rows are inserted in list order, so one chat's messages keep their order (ids ascend).
    """
    if not messages:
        return
    await conn.execute(
        insert(outbox),
        [
            {
                "contact_id": m.contact_id,
                "channel": m.address.channel,
                "address": m.address.address,
                "kind": m.kind,
                "payload": m.reply.to_json(),
                "case_id": m.case_id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for m in messages
        ],
    )


# pg_try_advisory_xact_lock(OUTBOX_LOCK_CLASS, contact) serialises claims per chat.
OUTBOX_LOCK_CLASS = 0x58460001  # "XF" + 1: this module's namespace of advisory locks
SCHEDULED = "scheduled"  # not a message yet: becomes a pending row when it is due


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        (outbox.c.status == "pending") & (outbox.c.next_attempt_at <= now),
        (outbox.c.status == "sending") & (outbox.c.lease_until < now),
    )


def _lit(value: str) -> ColumnElement[Any]:
    """An inline SQL string literal, for the terms that must match a partial index."""
    return literal_column(f"'{value}'")


def _queue(broadcast: bool, status: str) -> list[ColumnElement[bool]]:
    """Rows of one queue in ``status``: the terms of ix_outbox_queue or
    ix_outbox_broadcast_queue (tables.py), the kind verbatim so the index applies."""
    kind = outbox.c.kind == _lit(BROADCAST) if broadcast else outbox.c.kind != _lit(BROADCAST)
    return [kind, outbox.c.status == status]


def _at_or_before(column: Any, now: Any) -> ColumnElement[bool]:
    """``column <= now`` as a filter only: written so that no index serves it, or the
    planner would rather range-scan ix_outbox_due and sort every due row than walk a
    queue index in id order and stop after ``limit`` rows (SQLite has no statistics)."""
    due: ColumnElement[bool] = func.coalesce(column, column) <= now
    return due


_OTHER = outbox.alias("other")  # built once: an alias's column collection is costly


def _held_back(now: Any) -> ColumnElement[bool]:
    """Another row of the same chat is in flight, or an earlier one waits for its retry
    (a broadcast row holds back only other broadcast rows)."""
    other = _OTHER
    return (
        select(other.c.id)
        .where(
            other.c.contact_id == outbox.c.contact_id,
            # the terms of ix_outbox_active: only the chat's unsettled rows are visited
            other.c.status.in_([_lit("pending"), _lit("sending")]),
            other.c.id != outbox.c.id,
            or_(other.c.kind != BROADCAST, outbox.c.kind == BROADCAST),
            or_(
                (other.c.id < outbox.c.id)
                & (other.c.status == "pending")
                & (other.c.next_attempt_at > now),
                (other.c.status == "sending") & (other.c.lease_until >= now),
            ),
        )
        .exists()
    )


def _walk(broadcast: bool, status: str) -> Select[Any]:
    """Due rows of one queue in id order, up to ``:limit`` (``:now``, ``:channels``)."""
    now = bindparam("now", type_=outbox.c.next_attempt_at.type)
    if status == "pending":
        due = _at_or_before(outbox.c.next_attempt_at, now)
    else:  # "sending": taken over from a worker whose lease expired
        due = outbox.c.lease_until < now
    return (
        select(outbox.c.id, outbox.c.contact_id, outbox.c.status)
        .where(
            outbox.c.channel.in_(bindparam("channels", expanding=True)),
            *_queue(broadcast, status),
            due,
            ~_held_back(now),
        )
        .order_by(outbox.c.id)
        .limit(bindparam("limit"))
    )


# built once: constructing them (and their cache keys) cost more than running them
_WALK_QUEUE = _walk(False, "pending")
_WALK_RECLAIM = _walk(False, "sending")
_WALK_BROADCASTS = _walk(True, "pending")


async def fail_unconfirmed(
    conn: AsyncConnection, *, now: datetime, channels: list[str]
) -> list[tuple[int, str]]:
    """Broadcast rows whose worker vanished mid-claim are failed, not sent again.

    The claim (status ``sending`` with a lease) is committed before any send starts, so
    such a row may have reached the citizen; no platform can say whether it did, and a
    broadcast is not worth a duplicate. Staff see it as failed with :data:`UNCONFIRMED`
    and can retry it deliberately. Replies and pushes are reclaimed instead (the worker
    asks ``already_sent`` first). Returns (id, channel) of the rows failed.
    """
    result = await conn.execute(
        update(outbox)
        .where(
            outbox.c.status == "sending",
            outbox.c.lease_until < now,
            outbox.c.kind == BROADCAST,
            outbox.c.channel.in_(channels),
        )
        .values(
            status="failed",
            last_error=UNCONFIRMED,
            attempts=outbox.c.attempts + 1,
            lease_until=None,
        )
        .returning(outbox.c.id, outbox.c.channel)
    )
    return [(int(r.id), str(r.channel)) for r in result.all()]


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

    One chat's messages go out one at a time and in order. A row is not claimed while
    another row of its chat is in flight (leased to a worker that may still be sending
    it) or an earlier one waits for a retry; rows are taken oldest first.

    PostgreSQL, with several workers: the candidates are read first; then the claim
    takes a transaction-scoped advisory lock per chat (a chat another worker is claiming
    right now is left for the next round), re-reads the candidates under those locks —
    a fresh snapshot, so claims committed meanwhile are seen — and locks the rows with
    ``FOR UPDATE SKIP LOCKED``. A chat's rows are taken only up to the first one that
    could not be locked, so a later row never goes out ahead of an earlier one that
    another transaction was touching. On SQLite the write transaction is exclusive.
    Scheduled rows that are due are first turned into pending rows at the tail.

    Broadcast rows come last: replies and case pushes due at the same time are taken
    before them (each kind oldest first), and a broadcast row — waiting or in flight —
    never holds back a reply or push of its chat, so a broadcast to thousands never
    delays a citizen's conversation; a broadcast may reach a chat after a newer reply,
    and may be in flight alongside one. Broadcast rows are never reclaimed from an
    expired lease (see :func:`fail_unconfirmed`).

    Each queue is walked in id order along its partial index (migration 0005), and the
    "held back" check visits only the chat's unsettled rows, so a claim costs about the
    rows it takes, however many wait behind them.
    """
    await _promote_scheduled(conn, now=now, channels=channels, limit=limit)

    async def walk(query: Select[Any], n: int) -> list[Any]:
        params = {"now": now, "channels": channels, "limit": n}
        return list((await conn.execute(query, params)).all())

    candidates = await walk(_WALK_QUEUE, limit) + await walk(_WALK_RECLAIM, limit)
    candidates = sorted(candidates, key=lambda c: c.id)[:limit]
    if len(candidates) < limit:
        candidates += await walk(_WALK_BROADCASTS, limit - len(candidates))
    if not candidates:
        return []
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        chats = sorted({c.contact_id for c in candidates})
        free = set(
            (
                await conn.execute(
                    text(
                        "SELECT c FROM unnest(CAST(:chats AS bigint[])) AS c "
                        "WHERE pg_try_advisory_xact_lock(:cls, CAST(c % 2147483647 AS integer))"
                    ),
                    {"chats": chats, "cls": OUTBOX_LOCK_CLASS},
                )
            ).scalars()
        )
        candidates = [c for c in candidates if c.contact_id in free]
        if not candidates:
            return []
        lock = (
            select(outbox.c.id, outbox.c.status)
            .where(outbox.c.id.in_([c.id for c in candidates]), _due(now), ~_held_back(now))
            .with_for_update(of=outbox, skip_locked=True)
        )
        locked = {r.id: r.status for r in (await conn.execute(lock)).all()}
    else:  # the write transaction is exclusive: the candidates just read are still due
        locked = {c.id: c.status for c in candidates}
    ids: list[int] = []
    stopped: set[int] = set()
    for c in candidates:  # oldest first: a chat stops at its first row we could not take
        if c.contact_id in stopped:
            continue
        if c.id in locked:
            ids.append(c.id)
        else:
            stopped.add(c.contact_id)
    if not ids:
        return []
    reclaimed = {i for i in ids if locked[i] == "sending"}
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


async def schedule(
    conn: AsyncConnection,
    *,
    contact_id: int,
    address: Address,
    reply: Reply,
    at: datetime,
    now: datetime,
    kind: str,
    case_id: int | None = None,
    template: dict[str, Any] | None = None,
) -> int:
    """Write a message to go out at ``at`` (e.g. a 回访 follow-up); cancellable until then.

    It waits with status ``scheduled`` and joins its chat's queue only when due (as a new
    row at the tail), so it neither holds the chat's other messages back meanwhile nor
    arrives out of order for readers that follow a chat by row id (web chat, terminal).
    """
    return await _insert(
        conn, contact_id, address, reply, kind, case_id, template, now, at, SCHEDULED
    )


async def cancel_scheduled(
    conn: AsyncConnection, case_ids: Sequence[int], kind: str, now: datetime
) -> list[int]:
    """Cancel the scheduled messages of ``kind`` for these cases; returns their ids."""
    if not case_ids:
        return []
    result = await conn.execute(
        update(outbox)
        .where(
            outbox.c.case_id.in_(list(case_ids)),
            outbox.c.kind == kind,
            outbox.c.status == SCHEDULED,
        )
        .values(status="cancelled", lease_until=None, last_error=f"cancelled at {now.isoformat()}")
        .returning(outbox.c.id)
    )
    return sorted(int(i) for i in result.scalars())


async def _promote_scheduled(
    conn: AsyncConnection, *, now: datetime, channels: list[str], limit: int
) -> None:
    """Due scheduled rows become pending rows at the tail of their chats (new ids)."""
    due = (
        select(outbox.c.id)
        .where(
            outbox.c.status == SCHEDULED,
            outbox.c.next_attempt_at <= now,
            outbox.c.channel.in_(channels),
        )
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list((await conn.execute(due)).scalars())
    if not ids:
        return
    copied = (
        "contact_id",
        "channel",
        "address",
        "kind",
        "payload",
        "case_id",
        "created_at",
    )
    source = (
        select(
            *(outbox.c[name] for name in copied),
            literal("pending").label("status"),
            literal(0).label("attempts"),
            literal(now, UTCDateTime()).label("next_attempt_at"),
        )
        .where(outbox.c.id.in_(ids))
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
    )
    await conn.execute(
        insert(outbox).from_select([*copied, "status", "attempts", "next_attempt_at"], source)
    )
    await conn.execute(delete(outbox).where(outbox.c.id.in_(ids)))


async def mark_sent(
    conn: AsyncConnection, row_id: int, worker: str, now: datetime, external_id: str = ""
) -> None:
    """Record a delivery (only while this worker still holds the row)."""
    await mark_sent_many(conn, worker, [(row_id, now, external_id)])


async def mark_sent_many(
    conn: AsyncConnection, worker: str, items: list[tuple[int, datetime, str]]
) -> None:
    """Record many deliveries ``(row id, sent at, external id)`` in one executemany (each
    only while this worker still holds the row)."""
    if not items:
        return
    await conn.execute(
        update(outbox)
        .where(outbox.c.id == bindparam("b_id"), outbox.c.claimed_by == worker)
        .values(
            status="sent",
            sent_at=bindparam("b_sent_at", type_=outbox.c.sent_at.type),
            external_id=bindparam("b_external_id"),
            attempts=outbox.c.attempts + 1,
            lease_until=None,
        ),
        [{"b_id": i, "b_sent_at": at, "b_external_id": ext or None} for i, at, ext in items],
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


INTERRUPTED = "interrupted while sending (worker stopped): asked before it is sent again"


async def release(conn: AsyncConnection, worker: str, in_flight: Iterable[int] = ()) -> None:
    """Hand back every row this worker holds (graceful shutdown).

    Rows whose send had started (``in_flight``) may have reached the platform: replies and
    pushes come back with one more attempt counted, so the next worker asks
    ``already_sent`` first; broadcast rows are failed as :data:`UNCONFIRMED` (at most once).
    """
    held = (outbox.c.claimed_by == worker) & (outbox.c.status == "sending")
    started = list(in_flight)
    if started:
        interrupted = held & outbox.c.id.in_(started)
        await conn.execute(
            update(outbox)
            .where(interrupted, outbox.c.kind == BROADCAST)
            .values(
                status="failed",
                lease_until=None,
                attempts=outbox.c.attempts + 1,
                last_error=UNCONFIRMED,
            )
        )
        await conn.execute(
            update(outbox)
            .where(interrupted, outbox.c.kind != BROADCAST)
            .values(
                status="pending",
                lease_until=None,
                attempts=outbox.c.attempts + 1,
                last_error=INTERRUPTED,
            )
        )
    await conn.execute(update(outbox).where(held).values(status="pending", lease_until=None))


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


# --- problem deliveries, for staff --------------------------------------------------------

PROBLEMS = ("failed", "stuck")
DEFAULT_STUCK_AFTER = timedelta(minutes=15)
# what staff may do with a row, by status: retry puts it back to pending now
RETRY_FROM = ("failed", "sending", "pending")  # sending: lease expired; pending: retried before
CANCEL_FROM = ("pending", SCHEDULED, "failed")


@dataclass(frozen=True, slots=True)
class Delivery:
    """An outbox row as staff see it (the address is the raw platform id: mask it)."""

    id: int
    contact_id: int
    channel: str
    address: str
    kind: str
    status: str
    problem: str  # "failed" | "stuck" | "" (not a problem)
    attempts: int
    last_error: str
    next_attempt_at: datetime
    lease_until: datetime | None
    claimed_by: str
    created_at: datetime
    sent_at: datetime | None
    case_id: int | None
    tracking_no: str  # of case_id, "" without a case
    push: str  # the push text key (e.g. "push.accepted"), "" for replies
    reachable: bool  # False: the citizen blocked the bot or unsubscribed
    event_id: int | None = None  # the case timeline event this notice tells the citizen of
    text: str = ""  # the message as sent: personal data, for roles with case.pii only
    receipt: str = ""  # the platform's delivery report of a sent row (record_receipt)


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    """One page of problem deliveries, newest first, with the total matching count."""

    items: list[Delivery]
    total: int


@dataclass(frozen=True, slots=True)
class StaffOutcome:
    """What a staff retry or cancel did to one row."""

    id: int
    done: bool
    status: str  # the status found ("" when there is no such row)
    channel: str = ""
    case_id: int | None = None


def _stuck(now: datetime, stuck_after: timedelta) -> ColumnElement[bool]:
    """In ``sending`` past its lease, or retried and overdue by more than ``stuck_after``."""
    return or_(
        (outbox.c.status == "sending") & (outbox.c.lease_until < now),
        (outbox.c.status == "pending")
        & (outbox.c.attempts >= 1)
        & (outbox.c.next_attempt_at < now - stuck_after),
    )


def _problem_filter(
    now: datetime,
    stuck_after: timedelta,
    *,
    problem: str | None,
    kind: str | None,
    channel: str | None,
    case_id: int | None,
) -> list[ColumnElement[bool]]:
    if problem not in (None, *PROBLEMS):
        raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}, not {problem!r}")
    failed = outbox.c.status == "failed"
    stuck = _stuck(now, stuck_after)
    conds = [failed if problem == "failed" else stuck if problem == "stuck" else failed | stuck]
    if kind:
        conds.append(outbox.c.kind == kind)
    if channel:
        conds.append(outbox.c.channel == channel)
    if case_id is not None:
        conds.append(outbox.c.case_id == case_id)
    return conds


async def list_problems(
    conn: AsyncConnection,
    *,
    now: datetime,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
    problem: str | None = None,
    kind: str | None = None,
    channel: str | None = None,
    case_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> DeliveryPage:
    """Failed and stuck deliveries matching the filters, newest first, one page."""
    conds = _problem_filter(
        now, stuck_after, problem=problem, kind=kind, channel=channel, case_id=case_id
    )
    total = int((await conn.execute(select(func.count()).where(*conds))).scalar_one())
    stuck = _stuck(now, stuck_after)
    result = await conn.execute(
        select(
            outbox,
            cases.c.tracking_no,
            contacts.c.reachable,
            case((outbox.c.status == "failed", "failed"), (stuck, "stuck"), else_="").label(
                "problem"
            ),
        )
        .select_from(
            outbox.outerjoin(cases, cases.c.id == outbox.c.case_id).join(
                contacts, contacts.c.id == outbox.c.contact_id
            )
        )
        .where(*conds)
        .order_by(outbox.c.id.desc())
        .limit(max(0, limit))
        .offset(max(0, offset))
    )
    return DeliveryPage([_delivery(r) for r in result.all()], total)


async def count_problems(
    conn: AsyncConnection, *, now: datetime, stuck_after: timedelta = DEFAULT_STUCK_AFTER
) -> dict[tuple[str, str], int]:
    """Problem deliveries per (channel, "failed" | "stuck")."""
    stuck = _stuck(now, stuck_after)
    problem = case((outbox.c.status == "failed", "failed"), else_="stuck").label("problem")
    rows = await conn.execute(
        select(outbox.c.channel, problem, func.count())
        .where((outbox.c.status == "failed") | stuck)
        .group_by(outbox.c.channel, problem)
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}


def _as_staff_see() -> Select[Any]:
    """Outbox rows with their case's tracking number and the contact's reachability."""
    return select(
        outbox, cases.c.tracking_no, contacts.c.reachable, literal("").label("problem")
    ).select_from(
        outbox.outerjoin(cases, cases.c.id == outbox.c.case_id).join(
            contacts, contacts.c.id == outbox.c.contact_id
        )
    )


async def get_deliveries(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Delivery]:
    """Rows by id, as staff see them (no problem classification)."""
    if not ids:
        return {}
    result = await conn.execute(_as_staff_see().where(outbox.c.id.in_(list(ids))))
    return {r.id: _delivery(r) for r in result.all()}


async def of_case(conn: AsyncConnection, case_id: int, contact_id: int) -> list[Delivery]:
    """Every message sent or to be sent about one case, oldest first (no problem
    classification). ``contact_id`` is the case's petitioner: the lookup walks their rows
    (ix_outbox_contact) instead of the whole outbox, which has no index on case_id."""
    result = await conn.execute(
        _as_staff_see()
        .where(outbox.c.contact_id == contact_id, outbox.c.case_id == case_id)
        .order_by(outbox.c.id)
    )
    return [_delivery(r) for r in result.all()]


def _retryable(now: datetime) -> ColumnElement[bool]:
    return (outbox.c.channel != PAPER) & or_(  # paper: handed over or posted, never sent
        outbox.c.status == "failed",
        (outbox.c.status == "sending") & (outbox.c.lease_until < now),
        (outbox.c.status == "pending") & (outbox.c.attempts >= 1),
    )


# Retried rows restart with one attempt counted, not zero: every row staff can retry was
# handed to the platform at least once, so the worker asks ``already_sent`` before it
# sends again (attempts > 0), and the row gets almost a fresh budget of retries.
_RETRY_VALUES: dict[str, Any] = {
    "status": "pending",
    "attempts": 1,
    "lease_until": None,
}


async def retry(conn: AsyncConnection, ids: Sequence[int], *, now: datetime) -> list[StaffOutcome]:
    """Failed or stuck rows (or rows waiting for a retry) go back to pending, due now."""
    return await _staff_update(
        conn, ids, _retryable(now), {**_RETRY_VALUES, "next_attempt_at": now}
    )


async def retry_failed(
    conn: AsyncConnection, *, now: datetime, channel: str | None = None
) -> tuple[list[StaffOutcome], int]:
    """Every failed row (of one channel) back to pending, except for unreachable citizens.

    Returns the rows retried and how many were left failed because their citizen blocked
    the bot or unsubscribed (they would only fail again).
    """
    where = [outbox.c.status == "failed"]
    if channel:
        where.append(outbox.c.channel == channel)
    reachable = select(contacts.c.id).where(contacts.c.reachable.is_(True))
    result = await conn.execute(
        update(outbox)
        .where(*where, outbox.c.contact_id.in_(reachable))
        .values(**_RETRY_VALUES, next_attempt_at=now)
        .returning(outbox.c.id, outbox.c.channel, outbox.c.case_id)
    )
    done = [StaffOutcome(r.id, True, "failed", r.channel, r.case_id) for r in result.all()]
    skipped = int((await conn.execute(select(func.count()).where(*where))).scalar_one())
    return sorted(done, key=lambda o: o.id), skipped


async def cancel(conn: AsyncConnection, ids: Sequence[int], *, now: datetime) -> list[StaffOutcome]:
    """Pending, scheduled or failed rows are cancelled: they will not be sent."""
    return await _staff_update(
        conn,
        ids,
        outbox.c.status.in_(CANCEL_FROM),
        {"status": "cancelled", "lease_until": None},
    )


async def _staff_update(
    conn: AsyncConnection,
    ids: Sequence[int],
    allowed: ColumnElement[bool],
    values: dict[str, Any],
) -> list[StaffOutcome]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    before = {
        r.id: r
        for r in (
            await conn.execute(
                select(outbox.c.id, outbox.c.status, outbox.c.channel, outbox.c.case_id).where(
                    outbox.c.id.in_(wanted)
                )
            )
        ).all()
    }
    # the status condition is checked again by the update itself: a worker may have
    # claimed or settled the row since it was read
    changed = set(
        (
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(wanted), allowed)
                .values(**values)
                .returning(outbox.c.id)
            )
        ).scalars()
    )
    out = []
    for row_id in wanted:
        found = before.get(row_id)
        if found is None:
            out.append(StaffOutcome(row_id, False, ""))
        else:
            out.append(
                StaffOutcome(row_id, row_id in changed, found.status, found.channel, found.case_id)
            )
    return out


def _delivery(r: Any) -> Delivery:
    payload = r.payload or {}
    template = payload.get("template") or {}
    event_id = template.get("event_id")
    return Delivery(
        id=r.id,
        contact_id=r.contact_id,
        channel=r.channel,
        address=r.address,
        kind=r.kind,
        status=r.status,
        problem=r.problem or "",
        attempts=r.attempts,
        last_error=r.last_error or "",
        next_attempt_at=r.next_attempt_at,
        lease_until=r.lease_until,
        claimed_by=r.claimed_by or "",
        created_at=r.created_at,
        sent_at=r.sent_at,
        case_id=r.case_id,
        tracking_no=r.tracking_no or "",
        push=str(template.get("key") or ""),
        reachable=bool(r.reachable),
        event_id=event_id if isinstance(event_id, int) else None,
        text=str(payload.get("text") or ""),
        receipt=str(r._mapping.get("receipt") or ""),
    )


async def fail_channel_off(conn: AsyncConnection, channel: str, reason: str) -> list[int]:
    """Fail the waiting rows of a channel that is not configured; their ids."""
    result = await conn.execute(
        update(outbox)
        .where(outbox.c.channel == channel, outbox.c.status == "pending")
        .values(status="failed", last_error=reason[:2000], lease_until=None)
        .returning(outbox.c.id)
    )
    return [int(r.id) for r in result.all()]


async def record_receipt(
    conn: AsyncConnection, channel: str, external_id: str, receipt: str
) -> int | None:
    """Store a platform's delivery report on the sent row with this message id; the row's
    id, or None when no row has it (a message this bot did not send, or a report that came
    before the row was marked sent)."""
    found = (
        (
            await conn.execute(
                update(outbox)
                .where(
                    outbox.c.channel == channel,
                    outbox.c.external_id == external_id,
                    outbox.c.status == "sent",
                )
                .values(receipt=receipt)
                .returning(outbox.c.id)
            )
        )
        .scalars()
        .first()
    )
    return int(found) if found is not None else None
