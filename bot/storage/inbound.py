"""Inbound messages: the durable de-duplication record and the transcript's citizen side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.messages import Reply
from bot.storage.sql import insert_ignore, insert_ignore_many
from bot.storage.tables import inbound_messages


@dataclass(frozen=True, slots=True)
class StoredReplies:
    """The replies given to an earlier delivery of the same message."""

    inbound_id: int
    replies: list[Reply]
    mode: str  # "direct" (returned in the request) or "outbox"


async def record(
    conn: AsyncConnection,
    *,
    channel: str,
    external_id: str,
    contact_id: int,
    received_at: datetime,
    text: str,
    meta: dict[str, Any] | None,
) -> int | None:
    """Record a message; None when (channel, external_id) was recorded before."""
    return await insert_ignore(
        conn,
        inbound_messages,
        {
            "channel": channel,
            "external_id": external_id,
            "contact_id": contact_id,
            "received_at": received_at,
            "text": text,
            "meta": meta,
        },
        ["channel", "external_id"],
    )


async def record_many(
    conn: AsyncConnection, rows: Sequence[dict[str, Any]]
) -> dict[tuple[str, str], int]:
    """Record many messages in one round trip (keys as :func:`record`'s arguments).

    Returns the new ids by ``(channel, external_id)``; a message recorded before is absent.
    """
    ordered = sorted(rows, key=lambda r: (r["channel"], r["external_id"]))
    inserted = await insert_ignore_many(
        conn,
        inbound_messages,
        ordered,
        ["channel", "external_id"],
        ["id", "channel", "external_id"],
    )
    return {(r.channel, r.external_id): r.id for r in inserted}


async def stored_replies(
    conn: AsyncConnection, channel: str, external_id: str
) -> StoredReplies | None:
    """The replies recorded for a message already processed."""
    row = (
        await conn.execute(
            select(
                inbound_messages.c.id, inbound_messages.c.replies, inbound_messages.c.reply_mode
            ).where(
                inbound_messages.c.channel == channel,
                inbound_messages.c.external_id == external_id,
            )
        )
    ).one_or_none()
    if row is None or row.replies is None:
        return None
    return StoredReplies(row.id, [Reply.from_json(r) for r in row.replies], row.reply_mode)


async def save_replies(
    conn: AsyncConnection, inbound_id: int, replies: list[Reply], mode: str
) -> None:
    """Attach the replies to the message, for retries and the transcript."""
    await save_replies_many(conn, [(inbound_id, replies, mode)])


_SAVE_REPLIES = (
    update(inbound_messages)
    .where(inbound_messages.c.id == bindparam("b_id"))
    .values(
        replies=bindparam("b_replies", type_=inbound_messages.c.replies.type),
        reply_mode=bindparam("b_mode"),
    )
)


async def save_replies_many(
    conn: AsyncConnection, items: Sequence[tuple[int, list[Reply], str]]
) -> None:
    """Attach replies to many messages ``(inbound_id, replies, mode)`` in one executemany."""
    if items:
        await conn.execute(
            _SAVE_REPLIES,
            [
                {"b_id": i, "b_replies": [r.to_json() for r in replies], "b_mode": mode}
                for i, replies, mode in items
            ],
        )


async def for_contact(conn: AsyncConnection, contact_id: int, limit: int = 200) -> list[Any]:
    """The latest messages of a contact, oldest first (for the web chat history)."""
    rows = (
        await conn.execute(
            select(inbound_messages)
            .where(inbound_messages.c.contact_id == contact_id)
            .order_by(inbound_messages.c.id.desc())
            .limit(limit)
        )
    ).all()
    return list(reversed(rows))
