"""Broadcasts: one message to many petitioners, delivered through the outbox.

Staff choose an audience (the petitioners of one case, of a linked group, of a filter
of the case list, or every citizen), see how many contacts each channel would reach,
then start it. Every recipient gets one outbox row of kind ``broadcast``; the delivery
worker sends them within each channel's rate limits, after citizens' replies and case
pushes. Citizens who sent 退订 / "unsubscribe", and contacts that cannot be reached
(WeChat unsubscribe, a Telegram user who blocked the bot), are never recipients.
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
from bot.storage.broadcasts import BroadcastRow
from bot.storage.case_query import CaseFilter, scope_clause, where_clauses
from bot.storage.db import Database
from bot.storage.staff import add_audit
from bot.storage.tables import cases

log = get_logger(__name__)

AudienceKind = Literal["case", "linked", "filter", "all"]
KINDS: tuple[AudienceKind, ...] = ("case", "linked", "filter", "all")
MAX_TEXT_CHARS = 2000  # one message on every channel (WeChat splits at 2048 bytes itself)
MAX_FILTER_VALUES = 100


class BroadcastError(ValueError):
    """A broadcast request was refused; the message says why (HTTP 400 / 404)."""


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

    @property
    def settled(self) -> int:
        """Rows that reached an end state."""
        return self.sent + self.failed + self.cancelled

    @property
    def finished(self) -> bool:
        """Nothing more will be sent."""
        return self.pending == 0 and self.status != "sending"

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
    ) -> None:
        """``channels``: the channels this deployment delivers on (None: every channel);
        contacts on other channels are not recipients, since nothing would send to them.
        ``on_enqueued``: called after a broadcast's rows are committed (wake the worker)."""
        self.db = db
        self.clock = clock
        self.channels = None if channels is None else frozenset(channels)
        self.max_text_chars = max_text_chars
        self.on_enqueued = on_enqueued

    async def preview(self, audience: Audience, member: StaffMember) -> dict[str, int]:
        """Distinct recipient contacts per channel (raises AccessDenied, BroadcastError)."""
        member.require(Permission.BROADCAST)
        async with self.db.read() as conn:
            where = await self._recipients(conn, audience, member)
            return await store.count_by_channel(conn, where)

    async def start(
        self, audience: Audience, text: str, member: StaffMember, *, ip: str = ""
    ) -> int:
        """Queue the message for every recipient; returns the broadcast id.

        The broadcast row, every outbox row and the audit entry are one transaction:
        either the whole audience is queued or nothing is.
        """
        member.require(Permission.BROADCAST)
        body = check_text(text, self.max_text_chars)
        now = self.clock()
        async with self.db.transaction() as conn:
            where = await self._recipients(conn, audience, member)
            broadcast_id = await store.insert_broadcast(
                conn, created_by=member.login, text=body, audience=audience.to_json(), now=now
            )
            total = await store.enqueue_recipients(
                conn, broadcast_id, where, Reply(body).to_json(), now
            )
            if total == 0:
                raise BroadcastError("the audience has no reachable recipients")
            await add_audit(
                conn,
                at=now,
                actor=member.login,
                staff_id=member.id,
                action="broadcast.send",
                target=f"broadcast:{broadcast_id}",
                detail={"audience": audience.to_json(), "total": total, "chars": len(body)},
                ip=ip,
            )
        log.info(
            "broadcast.started",
            broadcast_id=broadcast_id,
            audience=audience.kind,
            total=total,
            staff=member.login,
        )
        if self.on_enqueued is not None:
            self.on_enqueued()
        return broadcast_id

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
        """Stop a broadcast: rows not yet claimed are cancelled; rows being sent finish."""
        member.require(Permission.BROADCAST)
        now = self.clock()
        async with self.db.transaction() as conn:
            row = await store.get(conn, broadcast_id)
            if row is None:
                raise BroadcastError(f"no broadcast {broadcast_id}")
            if row.status != "sending":
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
        self, conn: AsyncConnection, audience: Audience, member: StaffMember
    ) -> list[ColumnElement[bool]]:
        scope = scope_of(member)
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
        return store.recipient_clauses(case_where, self.channels)

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
