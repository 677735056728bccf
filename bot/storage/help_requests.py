"""Citizens who asked for a person ("转人工"): one open request per contact until handled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.messages import Address
from bot.storage.tables import cases, contacts, help_requests

TEXT_CHARS = 500  # what the citizen wrote is kept this long


@dataclass(frozen=True, slots=True)
class HelpRequest:
    """One request for a person, with who asked and their latest case."""

    id: int
    contact_id: int
    address: Address
    lang: str
    case_id: int | None
    tracking_no: str
    department: str
    text: str
    in_form: bool
    asked_at: datetime
    times: int
    handled_at: datetime | None
    handled_by: str


async def ask(
    conn: AsyncConnection,
    *,
    contact_id: int,
    case_id: int | None,
    text: str,
    in_form: bool,
    now: datetime,
) -> bool:
    """Record a request; True when it is new, False when one was open (it is renewed)."""
    renewed = await conn.execute(
        update(help_requests)
        .where(help_requests.c.contact_id == contact_id, help_requests.c.handled_at.is_(None))
        .values(
            text=text[:TEXT_CHARS],
            in_form=in_form,
            asked_at=now,
            case_id=case_id,
            times=help_requests.c.times + 1,
        )
    )
    if renewed.rowcount:
        return False
    await conn.execute(
        help_requests.insert().values(
            contact_id=contact_id,
            case_id=case_id,
            text=text[:TEXT_CHARS],
            in_form=in_form,
            asked_at=now,
        )
    )
    return True


def _select() -> Select[Any]:
    return (
        select(
            help_requests,
            contacts.c.channel,
            contacts.c.address,
            contacts.c.lang,
            cases.c.tracking_no,
            cases.c.department,
        )
        .join(contacts, contacts.c.id == help_requests.c.contact_id)
        .outerjoin(cases, cases.c.id == help_requests.c.case_id)
    )


def _row(row: Any) -> HelpRequest:
    m = row._mapping
    return HelpRequest(
        id=m["id"],
        contact_id=m["contact_id"],
        address=Address(m["channel"], m["address"]),
        lang=m["lang"],
        case_id=m["case_id"],
        tracking_no=m["tracking_no"] or "",
        department=m["department"] or "",
        text=m["text"],
        in_form=bool(m["in_form"]),
        asked_at=m["asked_at"],
        times=m["times"],
        handled_at=m["handled_at"],
        handled_by=m["handled_by"],
    )


async def listing(
    conn: AsyncConnection,
    *,
    handled: bool,
    departments: tuple[str, ...] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[HelpRequest]:
    """Open requests oldest first (who waited longest), or handled ones newest first.

    ``departments``: only requests about a case of these departments (None: all).
    """
    query = _select()
    if handled:
        query = query.where(help_requests.c.handled_at.is_not(None)).order_by(
            help_requests.c.handled_at.desc(), help_requests.c.id.desc()
        )
    else:
        query = query.where(help_requests.c.handled_at.is_(None)).order_by(
            help_requests.c.asked_at, help_requests.c.id
        )
    if departments is not None:
        query = query.where(cases.c.department.in_(departments))
    rows = await conn.execute(query.limit(limit).offset(offset))
    return [_row(r) for r in rows]


async def count_open(conn: AsyncConnection, departments: tuple[str, ...] | None = None) -> int:
    """How many requests wait for staff."""
    query = (
        select(func.count())
        .select_from(help_requests.outerjoin(cases, cases.c.id == help_requests.c.case_id))
        .where(help_requests.c.handled_at.is_(None))
    )
    if departments is not None:
        query = query.where(cases.c.department.in_(departments))
    return int((await conn.execute(query)).scalar_one())


async def get(conn: AsyncConnection, request_id: int) -> HelpRequest | None:
    """One request."""
    row = (await conn.execute(_select().where(help_requests.c.id == request_id))).first()
    return _row(row) if row is not None else None


async def mark_handled(conn: AsyncConnection, request_id: int, by: str, now: datetime) -> bool:
    """Close an open request; False when it was handled already."""
    result = await conn.execute(
        update(help_requests)
        .where(help_requests.c.id == request_id, help_requests.c.handled_at.is_(None))
        .values(handled_at=now, handled_by=by)
    )
    return bool(result.rowcount)
