"""Notice routing: where a case notice goes besides, or after, the citizen's own channel.

The rules, as a table (each checked by tests/test_notice_routing.py):

| the notice went to | and                              | then                                    |
|--------------------|----------------------------------|-----------------------------------------|
| wechat             | failed for good (45015 without a | the same notice by SMS to the case's    |
|                    | template, 43004 unfollowed, …)   | mobile: the last step of WeChat's chain |
| web (chat page)    | was delivered to the mailbox     | also by SMS to the case's mobile: a     |
|                    |                                  | closed page cannot be reached           |
| anything else      |                                  | nothing more                            |

Only case notices (``push``, ``followup``) are routed, never dialog replies or
broadcasts; only when SMS is configured and the case holds a mainland mobile; at most
once per notice (a staff retry that fails again adds no second SMS). Each routed SMS is an
internal event on the case timeline naming both outbox rows, so staff see how the notice
finally went.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels.sms import NAME as SMS
from bot.channels.sms import VERIFICATION_KEY, e164
from bot.logging import get_logger
from bot.messages import Address, Reply
from bot.storage import cases, contacts, outbox
from bot.storage.outbox import OutboxRow
from bot.storage.tables import case_events
from bot.storage.tables import outbox as outbox_table

log = get_logger(__name__)

FALLBACK = "sms_fallback"  # the timeline event of a WeChat notice resent by SMS
COPY = "sms_copy"  # the timeline event of a web-chat notice also sent by SMS
NOTICE_KINDS = frozenset({"push", "followup"})
FALLBACK_FROM = frozenset({"wechat"})
COPY_FROM = frozenset({"web"})


def route(channel: str, kind: str, *, delivered: bool) -> str:
    """Which SMS route a notice takes after its own send: FALLBACK, COPY or ""."""
    if kind not in NOTICE_KINDS:
        return ""
    if not delivered and channel in FALLBACK_FROM:
        return FALLBACK
    if delivered and channel in COPY_FROM:
        return COPY
    return ""


class NoticeRouting:
    """Queues the SMS a routed notice needs, in the caller's transaction."""

    def __init__(self, *, sms_on: bool) -> None:
        self.sms_on = sms_on

    def wants(self, row: OutboxRow, *, delivered: bool) -> bool:
        """Whether this row's outcome may queue an SMS or clear a code (no database)."""
        if _is_code(row):
            return True
        return self.sms_on and bool(route(row.address.channel, row.kind, delivered=delivered))

    async def after(
        self, conn: AsyncConnection, row: OutboxRow, now: datetime, *, delivered: bool
    ) -> int | None:
        """Queue the SMS for a row that was delivered or failed for good; its outbox id."""
        if _is_code(row):
            # a verification code is kept (hashed) only by bot/citizen_phone.py: once the
            # SMS is sent or has failed for good, the row keeps no copy of it
            payload = {**row.payload, "template": {"key": VERIFICATION_KEY}}
            await conn.execute(
                update(outbox_table).where(outbox_table.c.id == row.id).values(payload=payload)
            )
            return None
        how = route(row.address.channel, row.kind, delivered=delivered)
        template = dict(row.payload.get("template") or {})
        tracking_no = str(template.get("tracking_no") or "")
        if not (self.sms_on and how and tracking_no):
            return None
        case = await cases.by_tracking_no(conn, tracking_no)
        phone = e164(case.phone) if case is not None else ""
        if case is None or not phone:
            return None
        if await _routed_before(conn, case.id, row.id):
            return None
        contact = await contacts.get_or_create(conn, Address(SMS, phone), now)
        sms_id = await outbox.enqueue(
            conn,
            contact_id=contact.id,
            address=contact.address,
            reply=Reply.from_json(row.payload),
            now=now,
            kind=row.kind,
            case_id=case.id,
            template={**template, "routed_from": row.id},
        )
        await cases.add_event(
            conn,
            case.id,
            at=now,
            actor="system",
            kind=how,
            public=False,
            data={"outbox_id": row.id, "sms_outbox_id": sms_id, "from": row.address.channel},
        )
        log.info("notice.routed_to_sms", how=how, outbox_id=row.id, sms_outbox_id=sms_id)
        return sms_id


async def _routed_before(conn: AsyncConnection, case_id: int, outbox_id: int) -> bool:
    rows = await conn.execute(
        select(case_events.c.data).where(
            case_events.c.case_id == case_id, case_events.c.kind.in_((FALLBACK, COPY))
        )
    )
    return any((r.data or {}).get("outbox_id") == outbox_id for r in rows)


def _is_code(row: OutboxRow) -> bool:
    return (row.payload.get("template") or {}).get("key") == VERIFICATION_KEY
