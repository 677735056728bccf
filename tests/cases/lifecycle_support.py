"""Shared helpers for lifecycle tests: a configured state machine and cases in any status."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cases.calendar import load_calendar
from bot.cases.clocks import Clocks, load_clocks
from bot.cases.lifecycle import FOLLOWUP, Lifecycle
from bot.dialogs.texts import load_texts
from bot.domain.tracking import new_tracking_no
from bot.messages import Address
from bot.storage import cases, contacts
from bot.storage.db import Database
from bot.storage.tables import case_events, outbox

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
TZ = ZoneInfo("Asia/Shanghai")


def make_lifecycle(clocks: Clocks | None = None, **overrides: Any) -> Lifecycle:
    """The state machine with the shipped clocks (unless given), calendar and texts."""
    return Lifecycle(
        clocks=clocks or load_clocks(CONFIG_DIR),
        calendar=load_calendar(CONFIG_DIR),
        texts=load_texts(CONFIG_DIR),
        tz=TZ,
        **overrides,
    )


async def make_case(
    db: Database,
    now: datetime,
    *,
    user: str = "citizen-1",
    lang: str = "zh",
    status: str = "submitted",
    phone: str = "13800138000",
    channel: str = "web",
    **values: Any,
) -> int:
    """A contact (``user`` on ``channel``) and a case in ``status``; returns the case id."""
    columns: dict[str, Any] = {
        "category": "labour",
        "region": "330106",
        "answers": {"request": "请求支付拖欠工资"},
        "flags": [],
        **values,
    }
    async with db.transaction() as conn:
        contact = await contacts.get_or_create(conn, Address(channel, user), now)
        if lang != "zh":
            await contacts.update_contact(conn, contact.id, lang=lang)
        number = new_tracking_no(now.date())
        while await cases.tracking_no_taken(conn, number):
            number = new_tracking_no(now.date())
        return await cases.insert_case(
            conn,
            tracking_no=number,
            contact_id=contact.id,
            channel=channel,
            status=status,
            lang=lang,
            form_id="intake",
            form_version=1,
            appeal_type="seek_resolution",
            name="张三",
            phone=phone,
            people_count=1,
            submitted_at=now,
            updated_at=now,
            **columns,
        )


async def count(conn: AsyncConnection, table: Any, case_id: int) -> int:
    """Rows of ``table`` (case_events, or outbox pushes without follow-ups) of a case."""
    where = [table.c.case_id == case_id]
    if table is outbox:
        where.append(table.c.kind != FOLLOWUP)
    return int((await conn.execute(select(func.count()).where(*where))).scalar_one())


async def followups(db: Database, case_id: int) -> list[Any]:
    """The 回访 follow-up rows of a case (any status), oldest first."""
    async with db.read() as conn:
        return list(
            (
                await conn.execute(
                    select(outbox)
                    .where(outbox.c.case_id == case_id, outbox.c.kind == FOLLOWUP)
                    .order_by(outbox.c.id)
                )
            ).all()
        )


async def events_and_pushes(db: Database, case_id: int) -> tuple[int, int]:
    """(timeline events, outbox pushes other than follow-ups) of a case."""
    async with db.read() as conn:
        return await count(conn, case_events, case_id), await count(conn, outbox, case_id)
