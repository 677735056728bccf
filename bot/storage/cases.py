"""Cases and their timeline events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.tables import case_departments, case_events, case_links, case_opinions, cases


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
    # lifecycle fields (migration 0002)
    department: str = ""
    co_departments: tuple[str, ...] = ()
    transferred_to: str = ""
    accepted_at: datetime | None = None
    answer_due_at: datetime | None = None
    extensions: int = 0
    answered_at: datetime | None = None
    answer_text: str = ""
    answer_outcome: str = ""
    request_until: datetime | None = None
    closed_at: datetime | None = None
    rating: str = ""
    rating_comment: str = ""
    rated_at: datetime | None = None
    linked_to: int | None = None
    people_count: int = 1
    name: str = ""
    handler: str = ""  # the named handler's login (migration 0014); '' = the department's


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
        department=row.department,
        co_departments=tuple(row.co_departments or ()),
        transferred_to=row.transferred_to,
        accepted_at=row.accepted_at,
        answer_due_at=row.answer_due_at,
        extensions=row.extensions,
        answered_at=row.answered_at,
        answer_text=row.answer_text,
        answer_outcome=row.answer_outcome,
        request_until=row.request_until,
        closed_at=row.closed_at,
        rating=row.rating,
        rating_comment=row.rating_comment,
        rated_at=row.rated_at,
        linked_to=row.linked_to,
        people_count=row.people_count,
        name=row.name,
        handler=row.handler,
    )


async def tracking_no_taken(conn: AsyncConnection, tracking_no: str) -> bool:
    """Whether a tracking number is already used."""
    return bool(
        (await conn.execute(select(exists().where(cases.c.tracking_no == tracking_no)))).scalar()
    )


async def insert_case(conn: AsyncConnection, **values: Any) -> int:
    """Insert a case row (and its department rows); returns its id."""
    result = await conn.execute(insert(cases).values(**values).returning(cases.c.id))
    case_id = int(result.scalar_one())
    rows = department_rows(case_id, values.get("department", ""), values.get("co_departments"))
    if rows:
        await conn.execute(insert(case_departments), rows)
    return case_id


def department_rows(
    case_id: int, department: str | None, co_departments: Iterable[str] | None
) -> list[dict[str, Any]]:
    """The case_departments rows of a case: its lead department, then each co-handler."""
    rows: dict[str, dict[str, Any]] = {}
    if department:
        rows[department] = {"case_id": case_id, "department": department, "role": "lead"}
    for code in co_departments or ():
        if code and code not in rows:
            rows[code] = {"case_id": case_id, "department": code, "role": "co"}
    return list(rows.values())


async def _sync_departments(conn: AsyncConnection, case_id: int) -> None:
    row = (
        await conn.execute(
            select(cases.c.department, cases.c.co_departments).where(cases.c.id == case_id)
        )
    ).one_or_none()
    await conn.execute(delete(case_departments).where(case_departments.c.case_id == case_id))
    if row is not None:
        rows = department_rows(case_id, row.department, row.co_departments)
        if rows:
            await conn.execute(insert(case_departments), rows)


async def add_event(
    conn: AsyncConnection,
    case_id: int,
    *,
    at: datetime,
    actor: str,
    kind: str,
    note: str = "",
    message: str = "",
    public: bool = True,
    data: dict[str, Any] | None = None,
) -> int:
    """Append an event to a case's timeline; returns its id. ``message`` is what the
    petitioner was told, ``note`` is internal (staff only, never shown to a citizen)."""
    result = await conn.execute(
        insert(case_events)
        .values(
            case_id=case_id,
            at=at,
            actor=actor,
            kind=kind,
            message=message,
            note=note,
            public=public,
            data=data,
        )
        .returning(case_events.c.id)
    )
    return int(result.scalar_one())


@dataclass(frozen=True, slots=True)
class Opinion:
    """A written opinion of a case: 处理意见 (answer), 复查意见 (review), 复核意见 (recheck)."""

    id: int
    case_id: int
    stage: str
    outcome: str
    text: str
    decided_by: str
    department: str
    decided_at: datetime


async def add_opinion(
    conn: AsyncConnection,
    case_id: int,
    *,
    stage: str,
    outcome: str,
    text: str,
    decided_by: str,
    department: str,
    at: datetime,
) -> None:
    """Keep a written opinion of a case; earlier opinions stay as they were."""
    await conn.execute(
        insert(case_opinions).values(
            case_id=case_id,
            stage=stage,
            outcome=outcome,
            text=text,
            decided_by=decided_by,
            department=department,
            decided_at=at,
        )
    )


async def opinions(conn: AsyncConnection, case_id: int) -> list[Opinion]:
    """Every written opinion of a case, oldest first."""
    rows = await conn.execute(
        select(case_opinions).where(case_opinions.c.case_id == case_id).order_by(case_opinions.c.id)
    )
    return [Opinion(**row._mapping) for row in rows]


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


async def own_case(conn: AsyncConnection, contact_id: int, tracking_no: str) -> CaseRow | None:
    """A contact's case by its canonical tracking number (None for anyone else's)."""
    row = (
        await conn.execute(
            select(cases).where(
                cases.c.tracking_no == tracking_no, cases.c.contact_id == contact_id
            )
        )
    ).one_or_none()
    return _case(row) if row else None


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


async def public_events(conn: AsyncConnection, case_id: int) -> list[Any]:
    """The events of a case the citizen may see, oldest first."""
    return list(
        (
            await conn.execute(
                select(case_events)
                .where(case_events.c.case_id == case_id, case_events.c.public.is_(True))
                .order_by(case_events.c.id)
            )
        ).all()
    )


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


@dataclass(frozen=True, slots=True)
class CaseLink:
    """A pair of cases: a duplicate suggested at registration, or linked by staff."""

    case_id: int
    other_case_id: int
    kind: str  # "suggested" | "linked"
    score: float
    created_at: datetime


async def by_id(conn: AsyncConnection, case_id: int, *, lock: bool = False) -> CaseRow | None:
    """A case by id; ``lock`` takes a row lock on PostgreSQL (SQLite writers are exclusive)."""
    stmt = select(cases).where(cases.c.id == case_id)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).one_or_none()
    return _case(row) if row else None


async def update_case(conn: AsyncConnection, case_id: int, now: datetime, **values: Any) -> None:
    """Change a case's columns (callers add the matching event in the same transaction)."""
    await conn.execute(update(cases).where(cases.c.id == case_id).values(updated_at=now, **values))
    if "department" in values or "co_departments" in values:
        await _sync_departments(conn, case_id)


async def linked_to(conn: AsyncConnection, primary_id: int) -> list[CaseRow]:
    """The cases linked to a primary case (handled together with it), oldest first."""
    rows = (
        await conn.execute(
            select(cases).where(cases.c.linked_to == primary_id).order_by(cases.c.id)
        )
    ).all()
    return [_case(r) for r in rows]


async def earlier_for_citizen(
    conn: AsyncConnection,
    contact_id: int,
    phone: str,
    *,
    before_id: int | None = None,
    limit: int = 50,
) -> list[CaseRow]:
    """The citizen's earlier cases (same contact, or same phone), newest first."""
    cond = cases.c.contact_id == contact_id
    if phone:
        cond = or_(cond, cases.c.phone == phone)
    stmt = select(cases).where(cond)
    if before_id is not None:
        stmt = stmt.where(cases.c.id < before_id)
    rows = (await conn.execute(stmt.order_by(cases.c.id.desc()).limit(limit))).all()
    return [_case(r) for r in rows]


async def similar_candidates(
    conn: AsyncConnection,
    *,
    region: str,
    category: str,
    since: datetime,
    exclude_id: int,
    limit: int = 200,
) -> list[CaseRow]:
    """Recent cases of the same region and category, the pool for duplicate suggestions."""
    rows = (
        await conn.execute(
            select(cases)
            .where(
                cases.c.region == region,
                cases.c.category == category,
                cases.c.submitted_at >= since,
                cases.c.id != exclude_id,
            )
            .order_by(cases.c.id.desc())
            .limit(limit)
        )
    ).all()
    return [_case(r) for r in rows]


async def put_link(
    conn: AsyncConnection,
    case_id: int,
    other_case_id: int,
    *,
    kind: str,
    score: float,
    now: datetime,
) -> None:
    """Record a pair (stored once, smaller id first); "linked" overrides "suggested"."""
    a, b = sorted((case_id, other_case_id))
    existing = (
        await conn.execute(
            select(case_links.c.id, case_links.c.kind).where(
                case_links.c.case_id == a, case_links.c.other_case_id == b
            )
        )
    ).one_or_none()
    if existing is None:
        await conn.execute(
            insert(case_links).values(
                case_id=a, other_case_id=b, kind=kind, score=score, created_at=now
            )
        )
    elif kind == "linked" and existing.kind != "linked":
        await conn.execute(
            update(case_links).where(case_links.c.id == existing.id).values(kind="linked")
        )


async def links_of(conn: AsyncConnection, case_id: int) -> list[CaseLink]:
    """Every pair a case takes part in, best score first."""
    rows = (
        await conn.execute(
            select(case_links)
            .where(or_(case_links.c.case_id == case_id, case_links.c.other_case_id == case_id))
            .order_by(case_links.c.score.desc(), case_links.c.id)
        )
    ).all()
    return [
        CaseLink(r.case_id, r.other_case_id, r.kind, float(r.score), r.created_at) for r in rows
    ]


async def with_deadline(
    conn: AsyncConnection, *, due_before: datetime, department: str = "", limit: int = 500
) -> list[CaseRow]:
    """Open cases whose current deadline falls before ``due_before``, earliest first."""
    stmt = select(cases).where(cases.c.due_at.is_not(None), cases.c.due_at <= due_before)
    if department:
        stmt = stmt.where(cases.c.department == department)
    rows = (await conn.execute(stmt.order_by(cases.c.due_at, cases.c.id).limit(limit))).all()
    return [_case(r) for r in rows]


async def for_phone(conn: AsyncConnection, phone: str, limit: int = 100) -> list[CaseRow]:
    """The cases filed with a mainland mobile (11 digits, as the form stores it, or in
    E.164 as staff registration may), whoever filed them, newest first."""
    if not phone:
        return []
    forms = [phone, f"+86{phone}"]
    rows = (
        await conn.execute(
            select(cases).where(cases.c.phone.in_(forms)).order_by(cases.c.id.desc()).limit(limit)
        )
    ).all()
    return [_case(r) for r in rows]
