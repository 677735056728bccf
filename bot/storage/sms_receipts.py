"""What the SMS provider reports back (delivery receipts, TD opt-outs), and the mobile a
citizen confirmed by an SMS code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.messages import Address
from bot.storage import contacts as contact_store
from bot.storage.sql import insert_ignore
from bot.storage.tables import contact_phones, delivery_receipts, outbox

DELIVERED = "delivered"
UNDELIVERED = "undelivered"


async def record_receipt(
    conn: AsyncConnection,
    *,
    channel: str,
    serial_no: str,
    delivered: bool,
    detail: str,
    error: str,
    at: datetime,
) -> int | None:
    """Record a receipt on the row the provider's serial number names; its id, or None.

    A delivered receipt keeps the row sent; an undelivered one fails it (staff see why
    and may retry), unless a receipt already said delivered.
    """
    row = (
        await conn.execute(
            select(outbox.c.id, outbox.c.status).where(
                outbox.c.channel == channel, outbox.c.external_id == serial_no
            )
        )
    ).first()
    if row is None:
        return None
    before = await receipt_of(conn, int(row.id))
    if before == DELIVERED:
        return int(row.id)
    status = DELIVERED if delivered else UNDELIVERED
    await conn.execute(delete(delivery_receipts).where(delivery_receipts.c.outbox_id == row.id))
    await conn.execute(
        delivery_receipts.insert().values(
            outbox_id=row.id, status=status, detail=detail[:200], at=at
        )
    )
    if not delivered and row.status == "sent":
        await conn.execute(
            update(outbox)
            .where(outbox.c.id == row.id)
            .values(status="failed", last_error=error[:2000])
        )
    return int(row.id)


async def receipt_of(conn: AsyncConnection, outbox_id: int) -> str:
    """What the receipt of a row said ("" before one)."""
    value = (
        await conn.execute(
            select(delivery_receipts.c.status).where(delivery_receipts.c.outbox_id == outbox_id)
        )
    ).scalar_one_or_none()
    return str(value or "")


async def opt_out(conn: AsyncConnection, address: Address, now: datetime) -> None:
    """A citizen replied TD / 退订: no more broadcasts to this number (notices still go),
    kept even when the number has no case yet."""
    found = await contact_store.get_or_create(conn, address, now)
    await contact_store.set_broadcast_opt_out(conn, found.id, True)


async def set_verified_phone(
    conn: AsyncConnection, contact_id: int, phone: str, now: datetime
) -> None:
    """Remember the mobile a contact confirmed by an SMS code (the latest one counts)."""
    await conn.execute(delete(contact_phones).where(contact_phones.c.contact_id == contact_id))
    await insert_ignore(
        conn,
        contact_phones,
        {"contact_id": contact_id, "phone": phone, "verified_at": now},
        ["contact_id"],
    )


async def verified_phone(conn: AsyncConnection, contact_id: int) -> str:
    """The mobile a contact confirmed ("" when none)."""
    value = (
        await conn.execute(
            select(contact_phones.c.phone).where(contact_phones.c.contact_id == contact_id)
        )
    ).scalar_one_or_none()
    return str(value or "")
