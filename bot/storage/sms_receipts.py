"""What the SMS provider reports back: delivery receipts on outbox rows, TD opt-outs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.messages import Address
from bot.storage import contacts as contact_store
from bot.storage.tables import contacts, outbox

DELIVERED = "delivered"
UNDELIVERED = "undelivered"


async def record_receipt(
    conn: AsyncConnection,
    *,
    channel: str,
    serial_no: str,
    delivered: bool,
    error: str,
    at: datetime,
) -> int | None:
    """Record a receipt on the row the provider's serial number names; its id, or None.

    A delivered receipt keeps the row sent; an undelivered one fails it (staff see why
    and may retry), unless a later receipt already said delivered.
    """
    row = (
        await conn.execute(
            select(outbox.c.id, outbox.c.status, outbox.c.receipt).where(
                outbox.c.channel == channel, outbox.c.external_id == serial_no
            )
        )
    ).first()
    if row is None:
        return None
    if delivered:
        values: dict[str, object] = {"receipt": DELIVERED, "receipt_at": at}
    elif row.receipt == DELIVERED:
        return int(row.id)
    else:
        values = {"receipt": UNDELIVERED, "receipt_at": at, "last_error": error[:2000]}
        if row.status == "sent":
            values["status"] = "failed"
    await conn.execute(update(outbox).where(outbox.c.id == row.id).values(**values))
    return int(row.id)


async def opt_out(conn: AsyncConnection, address: Address, now: datetime) -> None:
    """A citizen replied TD / 退订: no more broadcasts to this number (notices still go),
    kept even when the number has no case yet."""
    found = await contact_store.get_or_create(conn, address, now)
    await contact_store.set_broadcast_opt_out(conn, found.id, True)


async def set_verified_phone(conn: AsyncConnection, contact_id: int, phone: str) -> None:
    """Remember the mobile a contact confirmed by an SMS code."""
    await conn.execute(
        update(contacts).where(contacts.c.id == contact_id).values(verified_phone=phone)
    )


async def verified_phone(conn: AsyncConnection, contact_id: int) -> str:
    """The mobile a contact confirmed ("" when none)."""
    value = (
        await conn.execute(select(contacts.c.verified_phone).where(contacts.c.id == contact_id))
    ).scalar_one_or_none()
    return str(value or "")
