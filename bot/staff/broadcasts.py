"""Broadcasts: one message to many petitioners, delivered through the outbox.

Staff choose an audience (the petitioners of one case, of a linked group, of a filter
of the case list, or every citizen), see how many contacts each channel would reach and
how many the audience matches but leaves out (their channel is off, they cannot be
reached, they unsubscribed), then start it. Every recipient gets one outbox row of kind
``broadcast``; the delivery worker sends them within each channel's rate limits, after
citizens' replies and case pushes. Citizens who sent 退订 / "unsubscribe", and contacts
that cannot be reached (WeChat unsubscribe, a Telegram user who blocked the bot), are
never recipients.

A broadcast to every citizen (no filter) waits, ``awaiting``, for a second supervisor
or admin to approve it (on by default; ``XINFANG_BROADCAST_ALL_NEEDS_APPROVAL``). A
broadcast may name a later time: it is ``scheduled`` and the service's scheduler
(:mod:`bot.broadcast_scheduler`) queues it then. Recipients are chosen when the rows
are queued, so a citizen who unsubscribes in between is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import utc_now
from bot.domain.tracking import format_tracking_no, parse_tracking_no
from bot.logging import get_logger
from bot.messages import Reply
from bot.staff.access import Permission, StaffMember
from bot.staff.casework import scope_of
from bot.storage import broadcasts as store
from bot.storage import staff as staff_store
from bot.storage.broadcasts import BroadcastRow
from bot.storage.case_query import CaseFilter, Scope, scope_clause, where_clauses
from bot.storage.db import Database
from bot.storage.staff import add_audit
from bot.storage.tables import cases

log = get_logger(__name__)

AudienceKind = Literal["case", "linked", "filter", "all"]
KINDS: tuple[AudienceKind, ...] = ("case", "linked", "filter", "all")
MAX_TEXT_CHARS = 2000  # one message on every channel (WeChat splits at 2048 bytes itself)
MAX_FILTER_VALUES = 100
STATUSES = ("awaiting", "scheduled", "sending", "done", "cancelled", "rejected")
ENDED = frozenset({"done", "cancelled", "rejected"})
# what start() records in the audit log, by the status the broadcast starts in
_START_AUDIT = {
    "sending": "broadcast.send",
    "awaiting": "broadcast.request",
    "scheduled": "broadcast.schedule",
}


class BroadcastError(ValueError):
    """A broadcast request was refused; the message says why (HTTP 400 / 404)."""


class ApprovalRefused(BroadcastError):
    """This account may not decide on the broadcast: it is the one that created it."""


def _strings(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise BroadcastError(f"audience {name} must be a list of strings")
    out = tuple(str(v).strip() for v in value if str(v).strip())
    if len(out) > MAX_FILTER_VALUES:
        raise BroadcastError(f"audience {name}: at most {MAX_FILTER_VALUES} values")
    return out


@dataclass(frozen=True)
class Audience:
    """Who a broadcast goes to.

    ``case``: the petitioner of one case; ``linked``: the petitioners of a linked group
    (any of its cases may be named); ``filter``: the petitioners of the cases matching
    regions / categories / statuses / channels (empty fields do not filter, and every
    field given must match); ``all``: every citizen who has not unsubscribed.
    """

    kind: AudienceKind
    tracking_no: str = ""  # case / linked: canonical after validation
    regions: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BroadcastError(f"audience kind must be one of {', '.join(KINDS)}")
        filters = (self.regions, self.categories, self.statuses, self.channels)
        if self.kind in ("case", "linked"):
            parsed = parse_tracking_no(self.tracking_no)
            if parsed.outcome != "valid":
                raise BroadcastError(
                    f"audience {self.kind} needs a valid tracking number"
                    + (
                        f" ({self.tracking_no!r} is mistyped)"
                        if parsed.outcome == "mistyped"
                        else ""
                    )
                )
            object.__setattr__(self, "tracking_no", parsed.canonical)
            if any(filters):
                raise BroadcastError(f"audience {self.kind} takes no filters")
        elif self.tracking_no:
            raise BroadcastError(f"audience {self.kind} takes no tracking number")
        if self.kind == "all" and any(filters):
            raise BroadcastError("audience all takes no filters (use kind filter)")
        if self.kind == "filter" and not any(filters):
            raise BroadcastError(
                "audience filter needs at least one region, category, status or channel "
                "(use kind all for everyone)"
            )

    def to_json(self) -> dict[str, Any]:
        """The stored and API form."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind in ("case", "linked"):
            out["tracking_no"] = self.tracking_no
        if self.kind == "filter":
            out.update(
                regions=list(self.regions),
                categories=list(self.categories),
                statuses=list(self.statuses),
                channels=list(self.channels),
            )
        return out

    @classmethod
    def from_json(cls, data: Any) -> Audience:
        """Parse and validate the API / stored form; raises BroadcastError."""
        if not isinstance(data, dict):
            raise BroadcastError("audience must be an object")
        unknown = set(data) - {
            "kind",
            "tracking_no",
            "regions",
            "categories",
            "statuses",
            "channels",
        }
        if unknown:
            raise BroadcastError(f"unknown audience fields: {', '.join(sorted(unknown))}")
        kind = data.get("kind")
        if kind not in KINDS:
            raise BroadcastError(f"audience kind must be one of {', '.join(KINDS)}")
        number = data.get("tracking_no") or ""
        if not isinstance(number, str):
            raise BroadcastError("audience tracking_no must be a string")
        return cls(
            kind=cast(AudienceKind, kind),
            tracking_no=number,
            regions=_strings("regions", data.get("regions")),
            categories=_strings("categories", data.get("categories")),
            statuses=_strings("statuses", data.get("statuses")),
            channels=_strings("channels", data.get("channels")),
        )

    def describe(self) -> str:
        """A short human description (CLI, logs; no personal data)."""
        if self.kind in ("case", "linked"):
            return f"{self.kind} {format_tracking_no(self.tracking_no)}"
        if self.kind == "all":
            return "all"
        parts = [
            f"{name}={','.join(values)}"
            for name, values in (
                ("region", self.regions),
                ("category", self.categories),
                ("status", self.statuses),
                ("channel", self.channels),
            )
            if values
        ]
        return "filter " + " ".join(parts)


@dataclass(frozen=True)
class BroadcastProgress:
    """Where a broadcast stands: its rows by outcome."""

    id: int
    status: str  # sending | done | cancelled
    total: int
    sent: int
    failed: int
    pending: int  # waiting or being sent
    cancelled: int
    created_by: str
    created_at: datetime
    text: str
    audience: dict[str, Any] = field(default_factory=dict)
    finished_at: datetime | None = None
    scheduled_at: datetime | None = None  # queued at this time (after approval, if needed)
    decided_by: str = ""  # the second account that approved or rejected it
    decided_at: datetime | None = None

    @property
    def settled(self) -> int:
        """Rows that reached an end state."""
        return self.sent + self.failed + self.cancelled

    @property
    def finished(self) -> bool:
        """Nothing more will be sent."""
        return self.pending == 0 and self.status in ENDED

    def to_json(self) -> dict[str, Any]:
        """The API form."""
        return {
            "id": self.id,
            "status": self.status,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "pending": self.pending,
            "cancelled": self.cancelled,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "text": self.text,
            "audience": self.audience,
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


def _progress(row: BroadcastRow, counts: dict[str, int]) -> BroadcastProgress:
    return BroadcastProgress(
        id=row.id,
        status=row.status,
        total=row.total,
        sent=counts.get("sent", 0),
        failed=counts.get("failed", 0),
        pending=counts.get("pending", 0) + counts.get("sending", 0),
        cancelled=counts.get("cancelled", 0),
        created_by=row.created_by,
        created_at=row.created_at,
        text=row.text,
        audience=row.audience,
        finished_at=row.finished_at,
        scheduled_at=row.scheduled_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


def check_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """The broadcast text, stripped; raises BroadcastError when empty or too long."""
    cleaned = text.replace("\r\n", "\n").strip()
    if not cleaned:
        raise BroadcastError("the message is empty")
    if len(cleaned) > max_chars:
        raise BroadcastError(f"the message is too long ({len(cleaned)} > {max_chars} characters)")
    return cleaned


class BroadcastService:
    """Preview, start, follow and cancel broadcasts (console, API and CLI share it)."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime] = utc_now,
        *,
        channels: Collection[str] | None = None,
        max_text_chars: int = MAX_TEXT_CHARS,
        on_enqueued: Callable[[], None] | None = None,
        approval_for_all: bool = True,
    ) -> None:
        """``channels``: the channels this deployment delivers on (None: every channel);
        contacts on other channels are not recipients, since nothing would send to them.
        ``on_enqueued``: called after a broadcast's rows are committed (wake the worker).
        ``approval_for_all``: a broadcast to everyone waits for a second account."""
        self.db = db
        self.clock = clock
        self.channels = None if channels is None else frozenset(channels)
        self.max_text_chars = max_text_chars
        self.on_enqueued = on_enqueued
        self.approval_for_all = approval_for_all

    def needs_approval(self, audience: Audience) -> bool:
        """Whether this audience waits for a second account's approval."""
        return self.approval_for_all and audience.kind == "all"

    async def preview(self, audience: Audience, member: StaffMember) -> dict[str, int]:
        """Distinct recipient contacts per channel (raises AccessDenied, BroadcastError)."""
        member.require(Permission.BROADCAST)
        async with self.db.read() as conn:
            where = await self._recipients(conn, audience, scope_of(member))
            return await store.count_by_channel(conn, where)

    async def left_out(self, audience: Audience, member: StaffMember) -> dict[str, int]:
        """Contacts the audience matches that would get no message, per reason
        (storage.broadcasts.LEFT_OUT_REASONS: channel_off, unreachable, unsubscribed)."""
        member.require(Permission.BROADCAST)
        async with self.db.read() as conn:
            case_where = await self._case_where(conn, audience, scope_of(member))
            return await store.left_out_by_reason(conn, case_where, self.channels)

    async def start(
        self,
        audience: Audience,
        text: str,
        member: StaffMember,
        *,
        ip: str = "",
        send_at: datetime | None = None,
    ) -> int:
        """Queue the message for every recipient, or hold it for approval or until
        ``send_at``; returns the broadcast id.

        The broadcast row, every outbox row and the audit entry are one transaction:
        either the whole audience is queued or nothing is.
        """
        member.require(Permission.BROADCAST)
        body = check_text(text, self.max_text_chars)
        now = self.clock()
        if send_at is not None and send_at <= now:
            raise BroadcastError("the send time has passed")
        if self.needs_approval(audience):
            status = "awaiting"
        else:
            status = "scheduled" if send_at is not None else "sending"
        async with self.db.transaction() as conn:
            where = await self._recipients(conn, audience, scope_of(member))
            broadcast_id = await store.insert_broadcast(
                conn,
                created_by=member.login,
                text=body,
                audience=audience.to_json(),
                now=now,
                status=status,
                scheduled_at=send_at,
            )
            if status == "sending":
                total = await store.enqueue_recipients(
                    conn, broadcast_id, where, Reply(body).to_json(), now
                )
            else:  # queued later: counted now, chosen again then
                total = sum((await store.count_by_channel(conn, where)).values())
            if total == 0:
                raise BroadcastError("the audience has no reachable recipients")
            detail: dict[str, Any] = {
                "audience": audience.to_json(),
                "total": total,
                "chars": len(body),
            }
            if send_at is not None:
                detail["scheduled_at"] = send_at.isoformat()
            await add_audit(
                conn,
                at=now,
                actor=member.login,
                staff_id=member.id,
                action=_START_AUDIT[status],
                target=f"broadcast:{broadcast_id}",
                detail=detail,
                ip=ip,
            )
        log.info(
            "broadcast.started",
            broadcast_id=broadcast_id,
            audience=audience.kind,
            total=total,
            status=status,
            staff=member.login,
        )
        if status == "sending" and self.on_enqueued is not None:
            self.on_enqueued()
        return broadcast_id

    async def approve(
        self, broadcast_id: int, member: StaffMember, *, ip: str = ""
    ) -> BroadcastProgress:
        """A second account approves a broadcast: queued now, or scheduled for its time."""
        return await self._decide(broadcast_id, member, approve=True, ip=ip)

    async def reject(
        self, broadcast_id: int, member: StaffMember, *, ip: str = ""
    ) -> BroadcastProgress:
        """A second account rejects a broadcast: it is never sent."""
        return await self._decide(broadcast_id, member, approve=False, ip=ip)

    async def _decide(
        self, broadcast_id: int, member: StaffMember, *, approve: bool, ip: str
    ) -> BroadcastProgress:
        member.require(Permission.BROADCAST)
        now = self.clock()
        queued: int | None = None
        async with self.db.transaction() as conn:
            row = await store.get(conn, broadcast_id)
            if row is None:
                raise BroadcastError(f"no broadcast {broadcast_id}")
            if row.status != "awaiting":
                raise BroadcastError(f"broadcast {broadcast_id} is {row.status}, not awaiting")
            if row.created_by == member.login:
                raise ApprovalRefused(
                    f"broadcast {broadcast_id} needs the approval of another account "
                    "than the one that created it"
                )
            later = row.scheduled_at is not None and row.scheduled_at > now
            after = ("scheduled" if later else "sending") if approve else "rejected"
            ended = {"finished_at": now} if after == "rejected" else {}
            decided = {"decided_by": member.login[:64], "decided_at": now, **ended}
            if not await store.move(conn, broadcast_id, "awaiting", after, **decided):
                raise BroadcastError(f"broadcast {broadcast_id} was decided meanwhile")
            if after == "sending":
                queued = await self._queue(conn, row, now)
            await add_audit(
                conn,
                at=now,
                actor=member.login,
                staff_id=member.id,
                action="broadcast.approve" if approve else "broadcast.reject",
                target=f"broadcast:{broadcast_id}",
                detail={"created_by": row.created_by, "queued": queued},
                ip=ip,
            )
        log.info("broadcast.decided", broadcast_id=broadcast_id, status=after, staff=member.login)
        if queued and self.on_enqueued is not None:
            self.on_enqueued()
        return await self.progress(broadcast_id)

    async def release_due(self, now: datetime | None = None) -> list[int]:
        """Queue every scheduled broadcast whose time has come; returns their ids.

        Several processes may run this at once: a broadcast moves from ``scheduled`` to
        ``sending`` in the transaction that queues its rows, and only one of them can.
        """
        now = now or self.clock()
        async with self.db.read() as conn:
            due = await store.due(conn, now)
        released: list[int] = []
        for row in due:
            async with self.db.transaction() as conn:
                if not await store.move(conn, row.id, "scheduled", "sending"):
                    continue  # another process released it
                try:
                    total = await self._queue(conn, row, now)
                except BroadcastError as exc:  # e.g. the case is gone from the creator's scope
                    await store.move(
                        conn, row.id, "sending", "cancelled", cancelled_at=now, finished_at=now
                    )
                    log.warning("broadcast.release_failed", broadcast_id=row.id, reason=str(exc))
                    continue
                await add_audit(
                    conn,
                    at=now,
                    actor="system",
                    action="broadcast.release",
                    target=f"broadcast:{row.id}",
                    detail={"total": total},
                )
            log.info("broadcast.released", broadcast_id=row.id, total=total)
            released.append(row.id)
        if released and self.on_enqueued is not None:
            self.on_enqueued()
        return released

    async def awaiting_approval(self) -> list[BroadcastProgress]:
        """Broadcasts waiting for a second account, oldest first."""
        async with self.db.read() as conn:
            rows = await store.awaiting(conn)
        return [_progress(r, {}) for r in rows]

    async def _queue(self, conn: AsyncConnection, row: BroadcastRow, now: datetime) -> int:
        """One outbox row per recipient of a held broadcast, chosen now, within the scope of
        the account that created it; a broadcast nobody is left to receive is done."""
        audience = Audience.from_json(row.audience)
        creator = await staff_store.by_login(conn, row.created_by)
        scope = scope_of(creator.member()) if creator is not None else Scope.of(())
        where = await self._recipients(conn, audience, scope)
        total = await store.enqueue_recipients(conn, row.id, where, Reply(row.text).to_json(), now)
        if total == 0:
            await store.finish(conn, row.id, now)
        return total

    async def progress(self, broadcast_id: int) -> BroadcastProgress:
        """Counts so far; a sending broadcast with nothing left to send becomes ``done``."""
        row, counts = await self._load(broadcast_id)
        if row.status == "sending" and not counts.get("pending") and not counts.get("sending"):
            async with self.db.transaction() as conn:
                await store.finish(conn, broadcast_id, self.clock())
            row, counts = await self._load(broadcast_id)
        return _progress(row, counts)

    async def cancel(
        self, broadcast_id: int, member: StaffMember, *, ip: str = ""
    ) -> BroadcastProgress:
        """Stop a broadcast: rows not yet claimed are cancelled; rows being sent finish. A
        broadcast awaiting approval or scheduled is never sent."""
        member.require(Permission.BROADCAST)
        now = self.clock()
        async with self.db.transaction() as conn:
            row = await store.get(conn, broadcast_id)
            if row is None:
                raise BroadcastError(f"no broadcast {broadcast_id}")
            if row.status in ENDED:
                raise BroadcastError(f"broadcast {broadcast_id} is already {row.status}")
            cancelled = await store.cancel(conn, broadcast_id, now)
            await add_audit(
                conn,
                at=now,
                actor=member.login,
                staff_id=member.id,
                action="broadcast.cancel",
                target=f"broadcast:{broadcast_id}",
                detail={"cancelled": cancelled},
                ip=ip,
            )
        log.info("broadcast.cancelled", broadcast_id=broadcast_id, cancelled=cancelled)
        return await self.progress(broadcast_id)

    async def recent(self, limit: int = 50) -> list[BroadcastProgress]:
        """The newest broadcasts with their progress."""
        async with self.db.read() as conn:
            rows = await store.recent(conn, max(1, min(limit, 500)))
            counts = await store.status_counts(conn, [r.id for r in rows])
        return [_progress(r, counts.get(r.id, {})) for r in rows]

    # ------------------------------------------------------------------ helpers

    async def _load(self, broadcast_id: int) -> tuple[BroadcastRow, dict[str, int]]:
        async with self.db.read() as conn:
            row = await store.get(conn, broadcast_id)
            if row is None:
                raise BroadcastError(f"no broadcast {broadcast_id}")
            counts = await store.status_counts(conn, [broadcast_id])
        return row, counts[broadcast_id]

    async def _recipients(
        self, conn: AsyncConnection, audience: Audience, scope: Scope
    ) -> list[ColumnElement[bool]]:
        case_where = await self._case_where(conn, audience, scope)
        return store.recipient_clauses(case_where, self.channels)

    async def _case_where(
        self, conn: AsyncConnection, audience: Audience, scope: Scope
    ) -> list[ColumnElement[bool]] | None:
        """The cases whose petitioners the audience names (None: every contact)."""
        scoped = scope_clause(conn, scope)
        case_where: list[ColumnElement[bool]] | None
        if audience.kind == "all":
            # everyone who ever wrote; a department-scoped member reaches only their cases
            case_where = None if scoped is None else [scoped]
        elif audience.kind == "filter":
            flt = CaseFilter(
                statuses=audience.statuses,
                categories=audience.categories,
                regions=audience.regions,
                channels=audience.channels,
            )
            case_where = where_clauses(conn, flt, scope)
        else:
            case_where = await self._case_group(conn, audience, scoped)
        return case_where

    async def _case_group(
        self,
        conn: AsyncConnection,
        audience: Audience,
        scoped: ColumnElement[bool] | None,
    ) -> list[ColumnElement[bool]]:
        query = select(cases.c.id, cases.c.linked_to).where(
            cases.c.tracking_no == audience.tracking_no
        )
        if scoped is not None:
            query = query.where(scoped)
        found = (await conn.execute(query)).one_or_none()
        if found is None:  # unknown, or outside the member's scope: the same answer
            raise BroadcastError(f"no case {format_tracking_no(audience.tracking_no)}")
        where: list[ColumnElement[bool]] = []
        if audience.kind == "case":
            where.append(cases.c.id == found.id)
        else:
            primary = found.linked_to if found.linked_to is not None else found.id
            where.append(or_(cases.c.id == primary, cases.c.linked_to == primary))
        if scoped is not None:
            where.append(scoped)
        return where
