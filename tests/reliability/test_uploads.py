"""Nothing a citizen sends is stored unless the dialog keeps it (web chat uploads).

Without a draft and without an open case a file is refused before it is written (no
file on disk, no attachment row); inside a draft it is kept; a file that never reached a
case is swept, row and file, once older than the draft TTL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from bot.app import build_services, create_app
from bot.clock import utc_now
from bot.settings import Settings
from bot.storage import attachments as attachment_rows
from bot.storage.db import Database
from bot.storage.tables import attachments, contacts, conversations
from bot.uploads import sweep_orphans


@pytest.fixture
async def chat(
    db: Database, db_url: str, tmp_path: Path, aiohttp_client: Any
) -> AsyncIterator[TestClient[Any, Any]]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=db_url, data_dir=tmp_path / "data"
    )
    client = await aiohttp_client(create_app(build_services(settings), run_worker=False))
    async with client.get("/chat") as resp:
        assert resp.status == 200
    yield client


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def upload(client: TestClient[Any, Any], name: str = "id.jpg") -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("client_id", uuid.uuid4().hex)
    form.add_field("file", b"\xff\xd8" + b"x" * 4096, filename=name, content_type="image/jpeg")
    async with client.post("/chat/api/attachments", data=form) as resp:
        return resp.status, await resp.json()


async def say(client: TestClient[Any, Any], text: str) -> None:
    body = {"client_id": uuid.uuid4().hex, "text": text}
    async with client.post("/chat/api/messages", json=body) as resp:
        assert resp.status == 200


async def test_upload_without_a_draft_is_refused_before_it_is_written(
    chat: TestClient[Any, Any], db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "data" / "attachments"
    status, body = await upload(chat)  # a fresh session: no conversation at all
    assert status == 409 and body["reason"] == "idle"
    assert "附件需要在填写信访事项时发送" in body["error"]
    await say(chat, "你好")  # a conversation, still no draft and no case
    status, body = await upload(chat)
    assert status == 409 and body["reason"] == "idle"
    assert files_under(root) == []
    async with db.read() as conn:
        assert (await conn.execute(select(attachments.c.id))).all() == []

    await say(chat, "新建")  # inside a draft the same file is kept
    status, body = await upload(chat)
    assert status == 200 and body["replies"]
    assert len(files_under(root)) == 1
    async with db.read() as conn:
        assert len((await conn.execute(select(attachments.c.id))).all()) == 1


async def test_orphaned_files_are_swept_after_the_draft_ttl(
    chat: TestClient[Any, Any], db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "data" / "attachments"
    await say(chat, "新建")
    assert (await upload(chat))[0] == 200
    now = utc_now()
    ttl = timedelta(hours=72)
    # the draft still holds it: kept even when old
    async with db.transaction() as conn:
        await conn.execute(update(attachments).values(created_at=now - ttl * 2))
    assert await sweep_orphans(db, root, now=now, ttl=ttl) == 0
    assert len(files_under(root)) == 1
    # the draft is gone (expired, cancelled): the file and its row go too
    async with db.transaction() as conn:
        await conn.execute(update(conversations).values(state={"v": 1}))
        contact_id = (await conn.execute(select(contacts.c.id))).scalar_one()
        assert await attachment_rows.unlinked_count(conn, contact_id) == 1
    assert await sweep_orphans(db, root, now=now, ttl=ttl) == 1
    assert files_under(root) == []
    async with db.read() as conn:
        assert (await conn.execute(select(attachments.c.id))).all() == []


async def test_caps_refuse_before_writing(
    chat: TestClient[Any, Any], db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "data" / "attachments"
    await say(chat, "新建")
    async with db.transaction() as conn:  # a draft holding its 30 files already
        state = (await conn.execute(select(conversations.c.state))).scalar_one()
        items = [{"kind": "image", "media_ref": f"x{i}"} for i in range(30)]
        state["draft"]["attachments"] = items
        await conn.execute(update(conversations).values(state=state))
    status, body = await upload(chat)
    assert status == 409 and body["reason"] == "too_many" and "30" in body["error"]
    async with db.transaction() as conn:  # room in the draft, but 40 unplaced files
        state["draft"]["attachments"] = []
        await conn.execute(update(conversations).values(state=state))
        contact_id = (await conn.execute(select(contacts.c.id))).scalar_one()
        for i in range(40):
            await attachment_rows.add(
                conn, contact_id=contact_id, kind="image", media_ref=f"gone{i}", now=utc_now()
            )
    status, body = await upload(chat)
    assert status == 409 and body["reason"] == "too_many"
    assert files_under(root) == []
