"""Cases and their timeline events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.tables import case_events, cases


@dataclass(frozen=True, slots=True)
class CaseRow:
    """A case as stored."""

    id: int
    tracking_no: str
    contact_id: int
    channel: str
    status: str
    lang: str
    appeal_type: str
    category: str
    region: str
    phone: str
    answers: dict[str, Any]
    flags: list[str]
    submitted_at: datetime
    updated_at: datetime
    due_at: datetime | None


def _case(row: Any) -> CaseRow:
    return CaseRow(
        id=row.id,
        tracking_no=row.tracking_no,
        contact_id=row.contact_id,
        channel=row.channel,
        status=row.status,
        lang=row.lang,
        appeal_type=row.appeal_type,
        category=row.category,
        region=row.region,
        phone=row.phone,
        answers=row.answers,
        flags=list(row.flags),
        submitted_at=row.submitted_at,
        updated_at=row.updated_at,
        due_at=row.due_at,
    )


async def tracking_no_taken(conn: AsyncConnection, tracking_no: str) -> bool:
    """Whether a tracking number is already used."""
    return bool(
        (await conn.execute(select(exists().where(cases.c.tracking_no == tracking_no)))).scalar()
    )


async def insert_case(conn: AsyncConnection, **values: Any) -> int:
    """Insert a case row; returns its id."""
    result = await conn.execute(insert(cases).values(**values).returning(cases.c.id))
    return int(result.scalar_one())


async def add_event(
    conn: AsyncConnection,
    case_id: int,
    *,
    at: datetime,
    actor: str,
    kind: str,
    note: str = "",
    public: bool = True,
    data: dict[str, Any] | None = None,
) -> None:
    """Append an event to a case's timeline."""
    await conn.execute(
        insert(case_events).values(
            case_id=case_id, at=at, actor=actor, kind=kind, note=note, public=public, data=data
        )
    )


async def by_tracking_no(conn: AsyncConnection, tracking_no: str) -> CaseRow | None:
    """A case by its canonical tracking number."""
    row = (
        await conn.execute(select(cases).where(cases.c.tracking_no == tracking_no))
    ).one_or_none()
    return _case(row) if row else None


async def for_contact(conn: AsyncConnection, contact_id: int, limit: int = 20) -> list[CaseRow]:
    """A contact's cases, newest first."""
    rows = (
        await conn.execute(
            select(cases)
            .where(cases.c.contact_id == contact_id)
            .order_by(cases.c.id.desc())
            .limit(limit)
        )
    ).all()
    return [_case(r) for r in rows]


async def count_earlier(conn: AsyncConnection, contact_id: int, phone: str) -> int:
    """How many cases this citizen filed before (same contact, or same phone)."""
    cond = cases.c.contact_id == contact_id
    if phone:
        cond = cond | (cases.c.phone == phone)
    return int((await conn.execute(select(func.count()).where(cond))).scalar_one())


async def last_public_event(conn: AsyncConnection, case_id: int) -> Any:
    """The newest event of a case that the citizen may see."""
    return (
        await conn.execute(
            select(case_events)
            .where(case_events.c.case_id == case_id, case_events.c.public.is_(True))
            .order_by(case_events.c.id.desc())
            .limit(1)
        )
    ).one_or_none()


async def events(conn: AsyncConnection, case_id: int) -> list[Any]:
    """The whole timeline of a case, oldest first."""
    return list(
        (
            await conn.execute(
                select(case_events)
                .where(case_events.c.case_id == case_id)
                .order_by(case_events.c.id)
            )
        ).all()
    )


async def set_status(conn: AsyncConnection, case_id: int, status: str, now: datetime) -> None:
    """Change a case's status (callers add the matching event in the same transaction)."""
    await conn.execute(
        update(cases).where(cases.c.id == case_id).values(status=status, updated_at=now)
    )
