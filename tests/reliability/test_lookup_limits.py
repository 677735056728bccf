"""Look-ups of someone else's case are limited in the database, not in the conversation.

A fresh web-chat cookie used to reset the count of wrong phone digits; now the failures
count per target case (and per client address) across sessions and channels, the case is
locked for a while past the limit, staff see the lock on its timeline, and the owner is
still served.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.app import build_services, create_app
from bot.domain.tracking import new_tracking_no
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.tables import case_events, cases, lookup_limits
from bot.web.i18n import TEXTS
from tests.petition import ANSWERS_ZH
from tests.reliability.support import reference_petition


@pytest.fixture
async def chat(
    db: Database, db_url: str, tmp_path: Path, aiohttp_client: Any
) -> AsyncIterator[Any]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=db_url, data_dir=tmp_path / "data"
    )
    yield await aiohttp_client(create_app(build_services(settings), run_worker=False))


async def new_session(client: TestClient[Any, Any]) -> None:
    """Forget the cookie and open the page again: a fresh conversation."""
    client.session.cookie_jar.clear()
    async with client.get("/chat") as resp:
        assert resp.status == 200


async def say(client: TestClient[Any, Any], text: str) -> str:
    body = {"client_id": uuid.uuid4().hex, "text": text}
    async with client.post("/chat/api/messages", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return "\n".join(r["text"] for r in (await resp.json())["replies"])


async def guess(client: TestClient[Any, Any], number: str, digits: str) -> str:
    asked = await say(client, number)
    assert "后4位" in asked, asked
    return await say(client, digits)


async def test_wrong_digits_lock_the_case_across_cookies(
    chat: TestClient[Any, Any], db: Database
) -> None:
    await new_session(chat)
    typed, _ = reference_petition(ANSWERS_ZH)
    for text in [*typed, "确认提交"]:
        await say(chat, text)
    owner_cookie = {c.key: c.value for c in chat.session.cookie_jar}
    async with db.read() as conn:
        number, case_id = (await conn.execute(select(cases.c.tracking_no, cases.c.id))).one()

    await new_session(chat)  # the first stranger: four wrong guesses (the engine allows 5)
    for digits in ("0000", "1111", "2222", "3333"):
        assert "验证未通过" in await guess(chat, number, digits)
    await new_session(chat)  # a fresh cookie does not reset the count: the fifth locks it
    assert "验证未通过" in await guess(chat, number, "4444")
    await new_session(chat)  # a third cookie with the right digits is refused all the same
    asked = await say(chat, number)
    assert "暂停查询" in asked and "5678" not in asked

    async with db.read() as conn:
        events = (
            await conn.execute(
                select(case_events.c.kind, case_events.c.public).where(
                    case_events.c.case_id == case_id
                )
            )
        ).all()
        locks = (await conn.execute(select(lookup_limits.c.scope, lookup_limits.c.key))).all()
    assert ("lookup_locked", False) in [(e.kind, e.public) for e in events]  # staff see it
    assert TEXTS["zh"]["event.lookup_locked"] and TEXTS["en"]["event.lookup_locked"]
    assert all("127.0.0.1" not in key for _, key in locks)  # the client address is hashed

    # the owner is never locked out of their own case
    chat.session.cookie_jar.clear()
    chat.session.cookie_jar.update_cookies(owner_cookie)
    own = await say(chat, number)
    assert number[2:8] in own and "暂停查询" not in own


async def test_unknown_numbers_lock_the_client_address_across_cookies(
    chat: TestClient[Any, Any], db: Database
) -> None:
    await new_session(chat)
    typed, _ = reference_petition(ANSWERS_ZH)
    for text in [*typed, "确认提交"]:
        await say(chat, text)
    owner_cookie = {c.key: c.value for c in chat.session.cookie_jar}
    async with db.read() as conn:
        number = (await conn.execute(select(cases.c.tracking_no))).scalar_one()
    day = date(2026, 11, 1)
    misses = [new_tracking_no(day, f"{i:06d}") for i in range(20)]
    for i, missing in enumerate(misses):  # 20 numbers that do not exist, 4 per cookie
        if i % 4 == 0:
            await new_session(chat)
        assert "没有找到" in await say(chat, missing)
    await new_session(chat)  # this address may look up no one else's case for a while
    assert "暂停查询" in await say(chat, number)
    chat.session.cookie_jar.clear()
    chat.session.cookie_jar.update_cookies(owner_cookie)
    assert "暂停查询" not in await say(chat, number)  # the owner, same address, is served
