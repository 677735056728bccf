"""Staff work on deliveries: the failed and stuck list, retry and cancel, each one logged.

The staff console and `xinfang outbox` both go through :class:`Deliveries`, so every
retry and cancel is in the log with the actor who did it. Nothing here sends: a retried
row goes back to the outbox worker, the only caller of ``Channel.send``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cases.tracking import format_tracking_no, parse_tracking_no
from bot.clock import utc_now
from bot.logging import get_logger
from bot.storage import cases
from bot.storage import outbox as rows
from bot.storage.db import Database
from bot.storage.outbox import DeliveryPage, StaffOutcome

log = get_logger(__name__)


class UnknownCase(LookupError):
    """A tracking number that is mistyped or names no case."""


class Deliveries:
    """Problem deliveries for staff: list, count, retry, cancel."""

    def __init__(
        self,
        db: Database,
        *,
        stuck_after: timedelta = rows.DEFAULT_STUCK_AFTER,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.stuck_after = stuck_after
        self.clock = clock

    async def problems(
        self,
        *,
        problem: str | None = None,
        kind: str | None = None,
        channel: str | None = None,
        tracking_no: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> DeliveryPage:
        """Failed and stuck deliveries, newest first; ``problem`` is "failed" or "stuck"."""
        async with self.db.read() as conn:
            case_id = await self._case_id(conn, tracking_no) if tracking_no else None
            return await rows.list_problems(
                conn,
                now=self.clock(),
                stuck_after=self.stuck_after,
                problem=problem,
                kind=kind,
                channel=channel,
                case_id=case_id,
                limit=limit,
                offset=offset,
            )

    async def counts(self) -> dict[tuple[str, str], int]:
        """Problem deliveries per (channel, "failed" | "stuck")."""
        async with self.db.read() as conn:
            return await rows.count_problems(conn, now=self.clock(), stuck_after=self.stuck_after)

    async def retry(self, ids: Sequence[int], *, actor: str) -> list[StaffOutcome]:
        """Put failed or stuck rows back in the queue, due now (checked before resending)."""
        _require_actor(actor)
        async with self.db.transaction() as conn:
            done = await rows.retry(conn, ids, now=self.clock())
        self._log("outbox.retried_by_staff", "outbox.retry_refused", done, actor)
        return done

    async def retry_all_failed(
        self, *, actor: str, channel: str | None = None
    ) -> tuple[list[StaffOutcome], int]:
        """Retry every failed row (of one channel); returns them and the unreachable left."""
        _require_actor(actor)
        async with self.db.transaction() as conn:
            done, skipped = await rows.retry_failed(conn, now=self.clock(), channel=channel)
        self._log("outbox.retried_by_staff", "outbox.retry_refused", done, actor)
        if skipped:
            log.info(
                "outbox.retry_skipped_unreachable", count=skipped, channel=channel, actor=actor
            )
        return done, skipped

    async def cancel(self, ids: Sequence[int], *, actor: str) -> list[StaffOutcome]:
        """Cancel pending, scheduled or failed rows: they will not be sent."""
        _require_actor(actor)
        async with self.db.transaction() as conn:
            done = await rows.cancel(conn, ids, now=self.clock())
        self._log("outbox.cancelled_by_staff", "outbox.cancel_refused", done, actor)
        return done

    async def _case_id(self, conn: AsyncConnection, tracking_no: str) -> int:
        parsed = parse_tracking_no(tracking_no)
        if parsed.outcome != "valid":
            raise UnknownCase(f"{tracking_no!r} is not a valid tracking number")
        found = await cases.by_tracking_no(conn, parsed.canonical)
        if found is None:
            raise UnknownCase(f"no case {format_tracking_no(parsed.canonical)}")
        return found.id

    @staticmethod
    def _log(event: str, refused: str, outcomes: Sequence[StaffOutcome], actor: str) -> None:
        for o in outcomes:
            if o.done:
                log.info(
                    event,
                    outbox_id=o.id,
                    channel=o.channel,
                    case_id=o.case_id,
                    previous_status=o.status,
                    actor=actor,
                )
            else:
                log.info(
                    refused,
                    outbox_id=o.id,
                    status=o.status or "missing",
                    actor=actor,
                )


def _require_actor(actor: str) -> None:
    if not actor.strip():
        raise ValueError("every retry and cancel needs an actor")
