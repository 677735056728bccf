"""Inbound messages: the durable de-duplication record and the transcript's citizen side."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.messages import Reply
from bot.storage.sql import insert_ignore
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
    await conn.execute(
        update(inbound_messages)
        .where(inbound_messages.c.id == inbound_id)
        .values(replies=[r.to_json() for r in replies], reply_mode=mode)
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
