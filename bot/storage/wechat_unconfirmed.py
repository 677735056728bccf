"""Subscription notifications on their way: written before bizsend is called, removed
when WeChat answers. A row that stays was answered by nobody (a timeout after the request
left, or a crash): WeChat's ``subscribe_msg_sent_event`` names the message it delivered,
and the row waits for it before the notice is sent again (bizsend has no
``client_msg_id``: a blind resend could notify the citizen twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.tables import wechat_unconfirmed as table


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """A bizsend nobody answered, and what WeChat reported of it since, if anything."""

    outbox_id: int
    template_id: str
    sent_at: datetime
    msgid: str | None
    receipt: str | None


async def note(
    conn: AsyncConnection, outbox_id: int, openid: str, template_id: str, now: datetime
) -> None:
    """Record that ``outbox_id`` is about to be sent with ``template_id``."""
    await conn.execute(delete(table).where(table.c.outbox_id == outbox_id))
    await conn.execute(
        insert(table).values(
            outbox_id=outbox_id, openid=openid, template_id=template_id, sent_at=now
        )
    )


async def of_outbox(conn: AsyncConnection, outbox_id: int) -> Unconfirmed | None:
    """The unanswered send of ``outbox_id``, if there is one."""
    row = (await conn.execute(select(table).where(table.c.outbox_id == outbox_id))).first()
    if row is None:
        return None
    return Unconfirmed(row.outbox_id, row.template_id, row.sent_at, row.msgid, row.receipt)


async def forget(conn: AsyncConnection, outbox_id: int) -> None:
    """The send of ``outbox_id`` is settled."""
    await conn.execute(delete(table).where(table.c.outbox_id == outbox_id))


async def confirm(
    conn: AsyncConnection,
    openid: str,
    template_id: str,
    msgid: str,
    receipt: str,
    reported: datetime,
) -> int | None:
    """A sent event no outbox row claims: the oldest unanswered send to ``openid`` with
    ``template_id`` made before ``reported`` is the one it reports; its outbox id."""
    found = (
        await conn.execute(
            select(table.c.outbox_id)
            .where(
                table.c.openid == openid,
                table.c.template_id == template_id,
                table.c.msgid.is_(None),
                table.c.sent_at <= reported,
            )
            .order_by(table.c.sent_at, table.c.outbox_id)
            .limit(1)
        )
    ).scalar()
    if found is None:
        return None
    await conn.execute(
        update(table).where(table.c.outbox_id == found).values(msgid=msgid, receipt=receipt)
    )
    return int(found)
