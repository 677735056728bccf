"""A case whose notices failed or got stuck, for the delivery page, API and timeline tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from bot.app import Services
from bot.messages import Address, Reply
from bot.storage import cases, contacts
from bot.storage import outbox as rows
from bot.storage.tables import outbox
from tests.web.api_support import ZJJ, api_for, file_case

OPENID = "oWX-citizen-openid-1"  # a citizen's platform id: never on a staff page
WECHAT_45015 = "45015: response out of time limit or subscription is canceled hint: [a1b2]"
TELEGRAM_403 = "telegram 403: Forbidden: bot was blocked by the user"
REPLY = "请携带身份证复印件，联系电话 13912345678。"


@dataclass
class Scene:
    """One case with a failed acceptance notice (WeChat, 45015) and a stuck staff reply,
    and a failed conversation reply of another citizen who blocked the bot."""

    number: str
    accepted: int  # outbox row ids
    reply: int
    blocked: int


async def set_row(services: Services, row_id: int, **values: Any) -> None:
    """Change an outbox row as a worker or a platform would have."""
    async with services.db.transaction() as conn:
        await conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))


async def row(services: Services, row_id: int) -> Any:
    """An outbox row."""
    async with services.db.read() as conn:
        return (await conn.execute(select(outbox).where(outbox.c.id == row_id))).one()


async def case_rows(services: Services, number: str) -> list[int]:
    """The ids of a case's outbox rows, oldest first."""
    async with services.db.read() as conn:
        case = await cases.by_tracking_no(conn, number)
        assert case is not None
        found = await conn.execute(
            select(outbox.c.id).where(outbox.c.case_id == case.id).order_by(outbox.c.id)
        )
        return [int(i) for i in found.scalars()]


async def make_scene(client: Any, services: Services) -> Scene:
    """Accept a case and reply to its petitioner through the API, then fail and stick them."""
    number = await file_case(services, ZJJ)
    admin = await api_for(client, services, "admin")
    assert (await admin.act(number, "accept")).status == 200
    assert (await admin.act(number, "reply", {"text": REPLY})).status == 200
    accepted, reply = await case_rows(services, number)
    now = datetime.now(UTC)
    await set_row(
        services,
        accepted,
        channel="wechat",
        address=OPENID,
        status="failed",
        attempts=1,
        last_error=WECHAT_45015,
    )
    await set_row(
        services,
        reply,
        status="sending",
        attempts=1,
        lease_until=now - timedelta(minutes=5),
        claimed_by="worker-gone",
        last_error="telegram network: timed out",
    )
    async with services.db.transaction() as conn:
        other = await contacts.get_or_create(conn, Address("telegram", "987654321"), now)
        await contacts.update_contact(conn, other.id, reachable=False)
        blocked = await rows.enqueue(
            conn,
            contact_id=other.id,
            address=other.address,
            reply=Reply("您好"),
            now=now,
            kind="reply",
        )
    await set_row(services, blocked, status="failed", attempts=1, last_error=TELEGRAM_403)
    return Scene(number, accepted, reply, blocked)
