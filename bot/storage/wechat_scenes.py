"""The parametric QR code scene a WeChat contact last came through (which poster)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.sql import insert_ignore
from bot.storage.tables import wechat_scenes


async def remember(conn: AsyncConnection, contact_id: int, scene: str, now: datetime) -> None:
    """Keep ``scene`` as the contact's latest."""
    created = await insert_ignore(
        conn,
        wechat_scenes,
        {"contact_id": contact_id, "scene": scene, "updated_at": now},
        ["contact_id"],
    )
    if created is None:
        await conn.execute(
            update(wechat_scenes)
            .where(wechat_scenes.c.contact_id == contact_id)
            .values(scene=scene, updated_at=now)
        )


async def of_contact(conn: AsyncConnection, contact_id: int) -> str | None:
    """The contact's latest scene, if any."""
    return (
        await conn.execute(
            select(wechat_scenes.c.scene).where(wechat_scenes.c.contact_id == contact_id)
        )
    ).scalar()
