"""Contacts (a citizen on one channel) and their conversation state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.messages import Address
from bot.storage.sql import insert_ignore
from bot.storage.tables import contacts, conversations, outbox


@dataclass(frozen=True, slots=True)
class Contact:
    """A citizen as reached on one channel."""

    id: int
    address: Address
    lang: str
    reachable: bool
    last_inbound_at: datetime | None
    broadcast_opt_out: bool = False


def _contact(row: Any) -> Contact:
    return Contact(
        id=row.id,
        address=Address(row.channel, row.address),
        lang=row.lang,
        reachable=row.reachable,
        last_inbound_at=row.last_inbound_at,
        broadcast_opt_out=bool(row.broadcast_opt_out),
    )


async def get_or_create(conn: AsyncConnection, address: Address, now: datetime) -> Contact:
    """The contact for an address, created on first contact."""
    await insert_ignore(
        conn,
        contacts,
        {"channel": address.channel, "address": address.address, "created_at": now},
        ["channel", "address"],
    )
    row = (
        await conn.execute(
            select(contacts).where(
                contacts.c.channel == address.channel, contacts.c.address == address.address
            )
        )
    ).one()
    return _contact(row)


async def find(conn: AsyncConnection, address: Address) -> Contact | None:
    """The contact for an address, if it ever wrote."""
    row = (
        await conn.execute(
            select(contacts).where(
                contacts.c.channel == address.channel, contacts.c.address == address.address
            )
        )
    ).one_or_none()
    return _contact(row) if row else None


async def get(conn: AsyncConnection, contact_id: int) -> Contact:
    """A contact by id."""
    row = (await conn.execute(select(contacts).where(contacts.c.id == contact_id))).one()
    return _contact(row)


async def update_contact(conn: AsyncConnection, contact_id: int, **values: Any) -> None:
    """Set fields of a contact (lang, reachable, last_inbound_at)."""
    await conn.execute(update(contacts).where(contacts.c.id == contact_id).values(**values))


async def set_broadcast_opt_out(conn: AsyncConnection, contact_id: int, opt_out: bool) -> None:
    """The citizen's 退订 / 订阅: no broadcasts from now on (or again).

    Opting out also cancels broadcast messages queued for them and not yet being sent.
    """
    await update_contact(conn, contact_id, broadcast_opt_out=opt_out)
    if opt_out:
        await conn.execute(
            update(outbox)
            .where(
                outbox.c.contact_id == contact_id,
                outbox.c.kind == "broadcast",
                outbox.c.status == "pending",
            )
            .values(status="cancelled")
        )


async def lock_state(
    conn: AsyncConnection, contact_id: int, now: datetime
) -> tuple[dict[str, Any] | None, int]:
    """Load a conversation's state and version, holding its row lock until commit.

    PostgreSQL: SELECT … FOR UPDATE serialises messages of one conversation across
    processes. SQLite: the transaction already holds the database write lock.
    """
    await insert_ignore(
        conn,
        conversations,
        {"contact_id": contact_id, "state": None, "version": 0, "updated_at": now},
        ["contact_id"],
    )
    row = (
        await conn.execute(
            select(conversations.c.state, conversations.c.version)
            .where(conversations.c.contact_id == contact_id)
            .with_for_update()
        )
    ).one()
    return row.state, row.version


async def save_state(
    conn: AsyncConnection,
    contact_id: int,
    state: dict[str, Any],
    version: int,
    now: datetime,
) -> None:
    """Store a conversation's new state; the version guards against lost updates."""
    result = await conn.execute(
        update(conversations)
        .where(conversations.c.contact_id == contact_id, conversations.c.version == version)
        .values(state=state, version=version + 1, updated_at=now)
    )
    if result.rowcount != 1:
        raise RuntimeError(f"conversation {contact_id} changed concurrently")
