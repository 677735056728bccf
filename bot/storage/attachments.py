"""Attachment records (files live under the attachments directory)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.tables import attachments, conversations

# Whose file it is (column ``origin``, migration 0011): the petitioner's materials (sent
# in a chat, or scanned by the registering clerk) or the office's own (investigation
# material, signed opinions), which reach the petitioner only when part of a document.
PETITIONER = "petitioner"
STAFF = "staff"
ORIGINS = (PETITIONER, STAFF)


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


async def add_to_case(
    conn: AsyncConnection,
    *,
    case_id: int,
    contact_id: int,
    file: tuple[str, str, str, str, int],
    origin: str,
    uploaded_by: str,
    now: datetime,
    in_document: bool = False,
) -> int:
    """Record a file staff uploaded to a case: (kind, storage key, mime, name, size)."""
    kind, media_ref, mime, filename, size = file
    result = await conn.execute(
        insert(attachments)
        .values(
            contact_id=contact_id,
            case_id=case_id,
            kind=kind,
            media_ref=media_ref,
            mime=mime,
            filename=filename[:256],
            size=size,
            created_at=now,
            origin=origin,
            in_document=in_document,
            uploaded_by=uploaded_by[:64],
        )
        .returning(attachments.c.id)
    )
    return int(result.scalar_one())


async def set_in_document(
    conn: AsyncConnection, case_id: int, attachment_id: int, in_document: bool
) -> bool:
    """Mark an office file of a case part of a document (or not); False when the case has
    no such office file (a petitioner's material is theirs already)."""
    result = await conn.execute(
        update(attachments)
        .where(
            attachments.c.id == attachment_id,
            attachments.c.case_id == case_id,
            attachments.c.origin == STAFF,
        )
        .values(in_document=in_document)
    )
    return bool(result.rowcount)


async def in_documents(conn: AsyncConnection, case_id: int) -> list[Any]:
    """The office files of a case staff made part of a document: what its petitioner may
    see of the office's files (id, kind, mime, filename, size, media_ref), oldest first."""
    rows = await conn.execute(
        select(
            attachments.c.id,
            attachments.c.kind,
            attachments.c.mime,
            attachments.c.filename,
            attachments.c.size,
            attachments.c.media_ref,
        )
        .where(
            attachments.c.case_id == case_id,
            attachments.c.origin == STAFF,
            attachments.c.in_document.is_(True),
        )
        .order_by(attachments.c.id)
    )
    return list(rows)


async def link_to_case(conn: AsyncConnection, ids: list[int], case_id: int) -> None:
    """Attach the draft's files to the new case."""
    if ids:
        await conn.execute(
            update(attachments).where(attachments.c.id.in_(ids)).values(case_id=case_id)
        )


async def unlinked_count(conn: AsyncConnection, contact_id: int) -> int:
    """A contact's files not (yet) part of a case: a draft's, or material being placed."""
    stmt = select(func.count()).where(
        attachments.c.contact_id == contact_id, attachments.c.case_id.is_(None)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def discard(conn: AsyncConnection, attachment_id: int) -> str | None:
    """Delete an unlinked attachment row; returns its storage key (the file to remove)."""
    result = await conn.execute(
        delete(attachments)
        .where(attachments.c.id == attachment_id, attachments.c.case_id.is_(None))
        .returning(attachments.c.media_ref)
    )
    return result.scalar_one_or_none()


async def unlinked_before(
    conn: AsyncConnection, cutoff: datetime, after: int = 0, limit: int = 500
) -> list[tuple[int, int, dict[str, Any] | None]]:
    """Files never linked to a case, written before ``cutoff``, with ids above ``after``:
    (id, contact id, the contact's conversation state), oldest first."""
    rows = await conn.execute(
        select(attachments.c.id, attachments.c.contact_id, conversations.c.state)
        .select_from(
            attachments.outerjoin(
                conversations, conversations.c.contact_id == attachments.c.contact_id
            )
        )
        .where(
            attachments.c.case_id.is_(None),
            attachments.c.created_at < cutoff,
            attachments.c.id > after,
        )
        .order_by(attachments.c.id)
        .limit(limit)
    )
    return [(int(r.id), int(r.contact_id), r.state) for r in rows]
