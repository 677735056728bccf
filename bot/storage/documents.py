"""Issued documents of a case, their 文号 sequence and their paper delivery records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.tables import case_documents, document_deliveries, document_numbers


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """One issued document as stored."""

    id: int
    case_id: int
    kind: str
    year: int
    seq: int
    number: str
    event_id: int | None
    data: dict[str, Any]
    created_at: datetime
    created_by: str
    pdf_key: str


@dataclass(frozen=True, slots=True)
class PaperDelivery:
    """A paper delivery of a document, as staff recorded it."""

    id: int
    document_id: int
    way: str  # in_person | post
    delivered_on: date
    note: str
    recorded_by: str
    recorded_at: datetime


def _document(row: Any) -> DocumentRow:
    return DocumentRow(
        id=row.id,
        case_id=row.case_id,
        kind=row.kind,
        year=row.year,
        seq=row.seq,
        number=row.number,
        event_id=row.event_id,
        data=dict(row.data or {}),
        created_at=row.created_at,
        created_by=row.created_by,
        pdf_key=row.pdf_key,
    )


async def next_seq(conn: AsyncConnection, kind: str, year: int) -> int:
    """The next sequence number of ``kind`` in ``year``, taken in the caller's transaction.

    One upsert: a concurrent issuer of the same kind waits on the row (PostgreSQL) or on
    the write lock (SQLite) until this transaction ends, and a rolled-back number is
    given again, so the numbers have no gaps and never repeat.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(document_numbers).values(kind=kind, year=year, last_seq=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[document_numbers.c.kind, document_numbers.c.year],
        set_={"last_seq": document_numbers.c.last_seq + 1},
    ).returning(document_numbers.c.last_seq)
    return int((await conn.execute(stmt)).scalar_one())


async def insert_document(conn: AsyncConnection, **values: Any) -> int:
    """Insert a document row; returns its id."""
    result = await conn.execute(
        insert(case_documents).values(**values).returning(case_documents.c.id)
    )
    return int(result.scalar_one())


async def of_case(conn: AsyncConnection, case_id: int) -> list[DocumentRow]:
    """A case's documents, in the order they were issued."""
    rows = await conn.execute(
        select(case_documents)
        .where(case_documents.c.case_id == case_id)
        .order_by(case_documents.c.id)
    )
    return [_document(r) for r in rows]


async def by_id(conn: AsyncConnection, document_id: int) -> DocumentRow | None:
    """A document by its id."""
    row = (
        await conn.execute(select(case_documents).where(case_documents.c.id == document_id))
    ).first()
    return _document(row) if row is not None else None


async def set_pdf_key(conn: AsyncConnection, document_id: int, key: str) -> None:
    """Record where the rendered PDF of a document is kept."""
    await conn.execute(
        update(case_documents).where(case_documents.c.id == document_id).values(pdf_key=key)
    )


async def add_delivery(conn: AsyncConnection, **values: Any) -> int:
    """Record a paper delivery; returns its id."""
    result = await conn.execute(
        insert(document_deliveries).values(**values).returning(document_deliveries.c.id)
    )
    return int(result.scalar_one())


async def deliveries_of(
    conn: AsyncConnection, document_ids: Sequence[int]
) -> dict[int, list[PaperDelivery]]:
    """The paper deliveries of each document, oldest first."""
    if not document_ids:
        return {}
    rows = await conn.execute(
        select(document_deliveries)
        .where(document_deliveries.c.document_id.in_(list(document_ids)))
        .order_by(document_deliveries.c.id)
    )
    out: dict[int, list[PaperDelivery]] = {}
    for r in rows:
        out.setdefault(r.document_id, []).append(
            PaperDelivery(
                r.id, r.document_id, r.way, r.delivered_on, r.note, r.recorded_by, r.recorded_at
            )
        )
    return out
