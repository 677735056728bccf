"""Contacts (a citizen on one channel) and their conversation state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.messages import Address
from bot.storage.sql import insert_ignore_many
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


_CONTACT_COLUMNS = [c.name for c in contacts.c]
TOUCH_EVERY = timedelta(minutes=1)  # the precision of last_inbound_at


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
    return (await get_or_create_many(conn, [address], now))[address]


async def get_or_create_many(
    conn: AsyncConnection, addresses: Iterable[Address], now: datetime
) -> dict[Address, Contact]:
    """The contacts for many addresses, creating the missing ones (a few round trips in all).

    Known contacts cost one SELECT; only addresses not found are inserted (ON CONFLICT DO
    NOTHING RETURNING the new rows); only those another process created meanwhile are
    read again.
    """
    wanted = sorted(set(addresses), key=lambda a: (a.channel, a.address))
    found = await _select_many(conn, wanted)
    missing = [a for a in wanted if a not in found]
    if missing:
        created = await insert_ignore_many(
            conn,
            contacts,
            [{"channel": a.channel, "address": a.address, "created_at": now} for a in missing],
            ["channel", "address"],
            _CONTACT_COLUMNS,
        )
        found.update((c.address, c) for c in map(_contact, created))
        raced = [a for a in missing if a not in found]
        if raced:
            found.update(await _select_many(conn, raced))
    return found


# The statements intake runs for every batch are built once: building and hashing a
# statement for the compiled cache costs more than running it (docs/benchmarks.md).
_SELECT_MANY = select(contacts).where(
    contacts.c.channel == bindparam("b_channel"),
    contacts.c.address.in_(bindparam("b_addresses", expanding=True)),
)
_TOUCH_MANY = (
    update(contacts)
    .where(contacts.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(
        last_inbound_at=bindparam("b_now", type_=contacts.c.last_inbound_at.type), reachable=True
    )
)
_LOCK_MANY = (
    select(conversations.c.contact_id, conversations.c.state, conversations.c.version)
    .where(conversations.c.contact_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(conversations.c.contact_id)
    .with_for_update()
)


async def _select_many(
    conn: AsyncConnection, addresses: Sequence[Address]
) -> dict[Address, Contact]:
    found: dict[Address, Contact] = {}
    for channel, group in groupby(addresses, key=lambda a: a.channel):
        rows = await conn.execute(
            _SELECT_MANY, {"b_channel": channel, "b_addresses": [a.address for a in group]}
        )
        for row in rows:
            contact = _contact(row)
            found[contact.address] = contact
    return found


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


async def touch_many(conn: AsyncConnection, found: Sequence[Contact], now: datetime) -> None:
    """Record that these contacts just wrote (and so can be reached again).

    ``last_inbound_at`` is kept to the minute: a contact that wrote less than a minute ago
    and is reachable is not written again, which spares a busy conversation an UPDATE
    per message.
    """
    stale = [
        c.id
        for c in found
        if not c.reachable or c.last_inbound_at is None or now - c.last_inbound_at >= TOUCH_EVERY
    ]
    if stale:
        await conn.execute(_TOUCH_MANY, {"b_ids": stale, "b_now": now})


async def load_state(conn: AsyncConnection, contact_id: int) -> dict[str, Any] | None:
    """A conversation's state, read without a lock (None: no conversation yet)."""
    stmt = select(conversations.c.state).where(conversations.c.contact_id == contact_id)
    state = (await conn.execute(stmt)).scalar_one_or_none()
    return state if isinstance(state, dict) else None


async def lock_state(
    conn: AsyncConnection, contact_id: int, now: datetime
) -> tuple[dict[str, Any] | None, int]:
    """Load a conversation's state and version, holding its row lock until commit."""
    return (await lock_states(conn, [contact_id], now))[contact_id]


async def lock_states(
    conn: AsyncConnection, contact_ids: Sequence[int], now: datetime
) -> dict[int, tuple[dict[str, Any] | None, int]]:
    """Load conversations' states and versions, holding their row locks until commit.

    PostgreSQL: SELECT … FOR UPDATE (in contact id order, so that two processes locking
    overlapping sets never deadlock) serialises messages of one conversation across
    processes. SQLite: the transaction already holds the database write lock.
    """
    ids = sorted(set(contact_ids))
    states = await _lock_many(conn, ids)
    missing = [cid for cid in ids if cid not in states]
    if missing:
        created = await insert_ignore_many(
            conn,
            conversations,
            [
                {"contact_id": cid, "state": None, "version": 0, "updated_at": now}
                for cid in missing
            ],
            ["contact_id"],
            ["contact_id"],
        )
        # a row this transaction inserted is new (no state yet) and already locked by it
        states.update((row.contact_id, (None, 0)) for row in created)
        raced = [cid for cid in missing if cid not in states]
        if raced:
            states.update(await _lock_many(conn, raced))
    return states


async def _lock_many(
    conn: AsyncConnection, ids: list[int]
) -> dict[int, tuple[dict[str, Any] | None, int]]:
    rows = await conn.execute(_LOCK_MANY, {"b_ids": ids})
    return {row.contact_id: (row.state, row.version) for row in rows}


async def save_state(
    conn: AsyncConnection,
    contact_id: int,
    state: dict[str, Any],
    version: int,
    now: datetime,
) -> None:
    """Store a conversation's new state; the version guards against lost updates."""
    await save_states(conn, [(contact_id, state, version)], now)


_SAVE_STATE = (
    update(conversations)
    .where(
        conversations.c.contact_id == bindparam("b_contact_id"),
        conversations.c.version == bindparam("b_version"),
    )
    .values(
        state=bindparam("b_state", type_=conversations.c.state.type),
        version=bindparam("b_next"),
        updated_at=bindparam("b_now", type_=conversations.c.updated_at.type),
    )
)


async def save_states(
    conn: AsyncConnection,
    states: Sequence[tuple[int, dict[str, Any], int]],
    now: datetime,
) -> None:
    """Store new states ``(contact_id, state, version read)`` in one executemany.

    The version guards against lost updates: a row changed since it was read is not
    written, and the transaction fails. (Drivers that cannot count the rows of an
    executemany rely on the row lock taken by :func:`lock_states`.)
    """
    if not states:
        return
    params = [
        {"b_contact_id": cid, "b_state": state, "b_version": v, "b_next": v + 1, "b_now": now}
        for cid, state, v in states
    ]
    result = await conn.execute(_SAVE_STATE, params)
    counted = len(params) == 1 or conn.dialect.supports_sane_multi_rowcount
    if counted and result.rowcount != len(params):
        raise RuntimeError("a conversation changed concurrently")
