"""转人工 for staff: who asked for a person, what they wrote lately, a reply and "handled".

A citizen's "转人工" is kept by intake (bot.storage.help_requests). Staff with
``case.act`` see the requests (handlers: those about their departments' cases), write
back through the citizen's own channel (the outbox delivers it like any reply), and mark
a request handled after calling or writing. Every reply and close is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import utc_now
from bot.logging import get_logger, mask_id
from bot.messages import Reply
from bot.staff.access import Permission, StaffMember
from bot.storage import help_requests, outbox
from bot.storage.db import Database
from bot.storage.help_requests import HelpRequest
from bot.storage.staff import add_audit
from bot.storage.tables import inbound_messages as inbound

log = get_logger(__name__)

REPLY_MAX_CHARS = 1000
RECENT_MESSAGES = 6  # of the citizen's own messages shown beside a request


class HelpDeskError(Exception):
    """A request that is not there (or not in the member's scope), or an empty reply."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code  # i18n key suffix: help.error.<code>


@dataclass(frozen=True, slots=True)
class HelpItem:
    """A request with the citizen's latest messages (newest last)."""

    request: HelpRequest
    recent: tuple[tuple[datetime, str], ...]


class HelpDesk:
    """The requests for a person, scoped to what the member may see."""

    def __init__(self, db: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self.db = db
        self.clock = clock

    @staticmethod
    def _scope(member: StaffMember) -> tuple[str, ...] | None:
        member.require(Permission.CASE_ACT)
        return None if member.sees_all_departments else member.departments

    async def open_count(self, member: StaffMember) -> int:
        """How many requests wait (for the navigation badge); 0 for roles that cannot act."""
        if not member.can(Permission.CASE_ACT):
            return 0
        async with self.db.read() as conn:
            return await help_requests.count_open(conn, self._scope(member))

    async def listing(
        self, member: StaffMember, *, handled: bool, limit: int, offset: int
    ) -> list[HelpItem]:
        """Open requests, longest waiting first (or handled ones, newest first)."""
        scope = self._scope(member)
        async with self.db.read() as conn:
            found = await help_requests.listing(
                conn, handled=handled, departments=scope, limit=limit, offset=offset
            )
            items = []
            for r in found:
                rows = await conn.execute(
                    select(inbound.c.received_at, inbound.c.text)
                    .where(inbound.c.contact_id == r.contact_id, inbound.c.text != "")
                    .order_by(inbound.c.id.desc())
                    .limit(RECENT_MESSAGES)
                )
                recent = tuple((at, text) for at, text in reversed(rows.all()))
                items.append(HelpItem(r, recent))
        return items

    async def _get(
        self, conn: AsyncConnection, member: StaffMember, request_id: int
    ) -> HelpRequest:
        scope = self._scope(member)
        found = await help_requests.get(conn, request_id)
        if found is None or (scope is not None and found.department not in scope):
            raise HelpDeskError("unknown")
        return found

    async def reply(
        self, member: StaffMember, request_id: int, text: str, *, ip: str = "", via: str = ""
    ) -> None:
        """Write to the citizen through their channel, and close the request."""
        text = text.strip()
        if not text:
            raise HelpDeskError("empty")
        if len(text) > REPLY_MAX_CHARS:
            raise HelpDeskError("too_long")
        now = self.clock()
        async with self.db.transaction() as conn:
            found = await self._get(conn, member, request_id)
            await outbox.enqueue(
                conn,
                contact_id=found.contact_id,
                address=found.address,
                reply=Reply(text),
                now=now,
                kind="reply",
                case_id=found.case_id,
            )
            await help_requests.mark_handled(conn, found.id, member.login, now)
            await self._audit(conn, member, "help.reply", found, now, ip, via)
        log.info("help.replied", request_id=request_id, contact=mask_id(found.contact_id))

    async def mark_handled(
        self, member: StaffMember, request_id: int, *, ip: str = "", via: str = ""
    ) -> bool:
        """Close a request (the citizen was called, or helped otherwise); False if closed."""
        now = self.clock()
        async with self.db.transaction() as conn:
            found = await self._get(conn, member, request_id)
            done = await help_requests.mark_handled(conn, found.id, member.login, now)
            if done:
                await self._audit(conn, member, "help.handled", found, now, ip, via)
        return done

    @staticmethod
    async def _audit(
        conn: AsyncConnection,
        member: StaffMember,
        action: str,
        found: HelpRequest,
        now: datetime,
        ip: str,
        via: str,
    ) -> None:
        await add_audit(
            conn,
            at=now,
            actor=member.login,
            action=action,
            staff_id=member.id,
            case_id=found.case_id,
            target=f"help:{found.id}",
            detail={"channel": found.address.channel, "via": via} if via else None,
            ip=ip,
        )
