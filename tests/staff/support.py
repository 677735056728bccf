"""Shared helpers for the staff service tests: members of each role and petitioners."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.tracking import new_tracking_no
from bot.messages import Address
from bot.staff.access import Role, StaffMember
from bot.storage import cases, contacts
from bot.storage.db import Database
from bot.storage.staff import insert_staff

ADMIN = StaffMember(1, "root", "Admin", Role.ADMIN, ())
SUPERVISOR = StaffMember(2, "boss", "督办", Role.SUPERVISOR, ())
HANDLER = StaffMember(3, "wang", "王", Role.HANDLER, ("330106-rsj",))
VIEWER = StaffMember(4, "look", "看", Role.VIEWER, ())
MEMBERS = (ADMIN, SUPERVISOR, HANDLER, VIEWER)


async def add_staff_rows(db: Database, now: datetime) -> None:
    """Store the accounts above, in id order (the audit log refers to them)."""
    async with db.transaction() as conn:
        for m in MEMBERS:
            await insert_staff(
                conn,
                login=m.login,
                display_name=m.display_name,
                password_hash="x",
                role=m.role,
                departments=list(m.departments),
                lang="zh",
                now=now,
            )


async def petition(
    db: Database,
    now: datetime,
    user: str,
    *,
    channel: str = "web",
    status: str = "submitted",
    answers: dict[str, Any] | None = None,
    **values: Any,
) -> tuple[int, str]:
    """A case filed by ``user`` on ``channel``; returns (case id, tracking number)."""
    columns: dict[str, Any] = {
        "category": "labour",
        "region": "330106",
        "department": "330106-rsj",
        "appeal_type": "claim",
        "name": "张三",
        "phone": "13800138000",
        "flags": [],
        **values,
    }
    async with db.transaction() as conn:
        contact = await contacts.get_or_create(conn, Address(channel, user), now)
        number = new_tracking_no(now.date())
        while await cases.tracking_no_taken(conn, number):
            number = new_tracking_no(now.date())
        case_id = await cases.insert_case(
            conn,
            tracking_no=number,
            contact_id=contact.id,
            channel=channel,
            status=status,
            lang="zh",
            form_id="intake",
            form_version=1,
            people_count=1,
            answers=answers or {"request": "请求支付拖欠工资", "facts": "公司拖欠三个月工资。"},
            submitted_at=now,
            updated_at=now,
            **columns,
        )
    return case_id, number


async def set_contact(db: Database, channel: str, address: str, **values: Any) -> None:
    """Change a contact's columns (reachable, broadcast_opt_out)."""
    async with db.transaction() as conn:
        found = await contacts.find(conn, Address(channel, address))
        assert found is not None
        await contacts.update_contact(conn, found.id, **values)
