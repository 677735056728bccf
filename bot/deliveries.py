"""Staff work on deliveries: the failed and stuck list, retry and cancel, each one logged
and audited; and the delivery state of every notice a case's petitioner was sent.

The staff console, the API and `xinfang outbox` all go through :class:`Deliveries`, so
every retry and cancel is in the log and in the audit log with the actor who did it.
Nothing here sends: a retried row goes back to the outbox worker, the only caller of
``Channel.send``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels import sms
from bot.clock import utc_now
from bot.delivery_reasons import Reason, explain
from bot.domain.tracking import format_tracking_no, parse_tracking_no
from bot.logging import get_logger
from bot.messages import Address
from bot.storage import cases, contacts
from bot.storage import outbox as rows
from bot.storage.db import Database
from bot.storage.outbox import Delivery, DeliveryPage, StaffOutcome
from bot.storage.staff import add_audit

log = get_logger(__name__)

# What staff see of a message: waiting for its time (a 回访), in the queue, handed to a
# worker, waiting for a retry, stuck (see storage.outbox._stuck), sent to the platform,
# failed for good, cancelled; and, for a sent message whose platform reported on it
# (WeChat TEMPLATESENDJOBFINISH), delivered, blocked by the citizen or not delivered.
STATES = (
    "scheduled",
    "queued",
    "sending",
    "retrying",
    "stuck",
    "sent",
    "delivered",
    "blocked",
    "undelivered",
    "failed",
    "cancelled",
)
# outbox.receipt (a platform's delivery report) -> the state staff see
RECEIPT_STATES = {"delivered": "delivered", "blocked": "blocked", "failed": "undelivered"}


class UnknownCase(LookupError):
    """A tracking number that is mistyped or names no case."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One outbox row as staff follow it: its state, what it tells, why it is not through."""

    delivery: Delivery
    state: str  # one of STATES
    notice: str  # what kind of message (see notice_kind)
    reason: Reason  # why it failed, is stuck or waits for a retry (code "" otherwise)


def notice_kind(d: Delivery) -> str:
    """What a message tells: a push's text ("accepted", "answered", "staff_reply", …),
    "followup" (回访), or the row's kind ("reply", "broadcast", "reminder")."""
    if d.push.startswith("push."):
        return d.push.removeprefix("push.")
    if d.push.startswith("followup."):
        return "followup"
    return d.kind


class Deliveries:
    """Deliveries for staff: problems listed and counted, retried, cancelled; notice states."""

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
        self.on_requeued: Callable[[], None] | None = None  # wake the outbox worker

    def state(self, d: Delivery) -> str:
        """The row's state (one of STATES) now; "stuck" as storage.outbox._stuck counts it."""
        now = self.clock()
        if d.status == "pending":
            if d.attempts == 0:
                return "queued"
            return "stuck" if d.next_attempt_at < now - self.stuck_after else "retrying"
        if d.status == "sending":
            return "stuck" if d.lease_until is not None and d.lease_until < now else "sending"
        if d.status == "sent" and d.receipt in RECEIPT_STATES:
            return RECEIPT_STATES[d.receipt]
        return d.status

    def notice(self, d: Delivery) -> Notice:
        """A row with its state, the kind of notice and the reason it is not through."""
        state = self.state(d)
        reason = explain(
            channel=d.channel,
            status=d.status,
            problem="stuck" if state == "stuck" else d.problem,
            error=d.last_error,
            reachable=d.reachable,
        )
        return Notice(d, state, notice_kind(d), reason)

    async def of_case(self, case_id: int, contact_id: int) -> dict[int, list[Notice]]:
        """A case's notices by the timeline event they tell of (rows written before
        notices named their event are left out)."""
        async with self.db.read() as conn:
            found = await rows.of_case(conn, case_id, contact_id)
            # the same notices sent by SMS to the case's mobile (WeChat's fallback, the
            # web chat's copy: bot/notice_routing.py) are the SMS contact's rows
            case = await cases.by_id(conn, case_id)
            phone = sms.e164(case.phone) if case is not None else ""
            texted = await contacts.find(conn, Address(sms.NAME, phone)) if phone else None
            if texted is not None and texted.id != contact_id:
                found = sorted(
                    [*found, *await rows.of_case(conn, case_id, texted.id)], key=lambda d: d.id
                )
        by_event: dict[int, list[Notice]] = defaultdict(list)
        for d in found:
            if d.event_id is not None:
                by_event[d.event_id].append(self.notice(d))
        return dict(by_event)

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

    async def retry(
        self,
        ids: Sequence[int],
        *,
        actor: str,
        staff_id: int | None = None,
        ip: str = "",
        via: str = "",
    ) -> list[StaffOutcome]:
        """Put failed or stuck rows back in the queue, due now (checked before resending).

        ``actor`` is written to the log and the audit log (a staff login, or
        ``staff:<user>`` from the command line); ``via`` is "session" or "token".
        """
        _require_actor(actor)
        now = self.clock()
        async with self.db.transaction() as conn:
            done = await rows.retry(conn, ids, now=now)
            await _audit(conn, "outbox.retry", done, now, actor, staff_id, ip, via)
        self._log("outbox.retried_by_staff", "outbox.retry_refused", done, actor)
        self._requeued(done)
        return done

    async def retry_all_failed(
        self, *, actor: str, channel: str | None = None
    ) -> tuple[list[StaffOutcome], int]:
        """Retry every failed row (of one channel); returns them and the unreachable left."""
        _require_actor(actor)
        now = self.clock()
        async with self.db.transaction() as conn:
            done, skipped = await rows.retry_failed(conn, now=now, channel=channel)
            await _audit(conn, "outbox.retry", done, now, actor, None, "", "")
        self._log("outbox.retried_by_staff", "outbox.retry_refused", done, actor)
        if skipped:
            log.info(
                "outbox.retry_skipped_unreachable", count=skipped, channel=channel, actor=actor
            )
        self._requeued(done)
        return done, skipped

    async def cancel(
        self,
        ids: Sequence[int],
        *,
        actor: str,
        staff_id: int | None = None,
        ip: str = "",
        via: str = "",
    ) -> list[StaffOutcome]:
        """Cancel pending, scheduled or failed rows: they will not be sent."""
        _require_actor(actor)
        now = self.clock()
        async with self.db.transaction() as conn:
            done = await rows.cancel(conn, ids, now=now)
            await _audit(conn, "outbox.cancel", done, now, actor, staff_id, ip, via)
        self._log("outbox.cancelled_by_staff", "outbox.cancel_refused", done, actor)
        return done

    def _requeued(self, outcomes: Sequence[StaffOutcome]) -> None:
        if self.on_requeued is not None and any(o.done for o in outcomes):
            self.on_requeued()

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


async def _audit(
    conn: AsyncConnection,
    action: str,
    outcomes: Sequence[StaffOutcome],
    now: datetime,
    actor: str,
    staff_id: int | None,
    ip: str,
    via: str,
) -> None:
    """One audit entry per row changed, in the transaction that changed it."""
    for o in outcomes:
        if not o.done:
            continue
        detail = {"channel": o.channel, "previous_status": o.status}
        await add_audit(
            conn,
            at=now,
            actor=actor,
            action=action,
            staff_id=staff_id,
            case_id=o.case_id,
            target=f"outbox:{o.id}",
            detail={**detail, "via": via} if via else detail,
            ip=ip,
        )


def _require_actor(actor: str) -> None:
    if not actor.strip():
        raise ValueError("every retry and cancel needs an actor")
