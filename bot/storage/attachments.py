"""Attachment records (files live under the attachments directory)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.tables import attachments


async def add(
    conn: AsyncConnection,
    *,
    contact_id: int,
    kind: str,
    media_ref: str,
    now: datetime,
    mime: str = "",
    filename: str = "",
    size: int = 0,
) -> int:
    """Record an attachment a citizen sent; linked to a case at submission."""
    result = await conn.execute(
        insert(attachments)
        .values(
            contact_id=contact_id,
            kind=kind,
            media_ref=media_ref,
            mime=mime,
            filename=filename,
            size=size,
            created_at=now,
        )
        .returning(attachments.c.id)
    )
    return int(result.scalar_one())


async def link_to_case(conn: AsyncConnection, ids: list[int], case_id: int) -> None:
    """Attach the draft's files to the new case."""
    if ids:
        await conn.execute(
            update(attachments).where(attachments.c.id.in_(ids)).values(case_id=case_id)
        )
