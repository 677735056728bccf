"""Several `xinfang serve` processes on one PostgreSQL database (scale-out).

Every platform delivery below reaches two processes at the same moment, the way a load
balancer with retries or a platform retry racing the first attempt would deliver it.
Checked: each conversation steps once per message, drafts continue on whichever process
gets the next message, each outbox row is sent by exactly one worker, and the WeChat
access_token is fetched by one process at a time.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.clock import utc_now
from bot.messages import Address, Reply
from bot.storage import contacts as contact_repo
from bot.storage import outbox as outbox_repo
from bot.storage.db import Database
from bot.storage.tables import cases, contacts, conversations, inbound_messages, outbox
from tests.channels.wechat.payloads import WeChatSide, message
from tests.fakes_telegram import FakeTelegram, text_update
from tests.fakes_wechat import FakeWeChat
from tests.petition import ANSWERS_ZH
from tests.reliability.support import (
    Fleet,
    count_rows,
    multiset,
    outbox_counts,
    post_telegram,
    reference_petition,
    telegram_env,
    wait_until,
    wechat_env,
)

pytestmark = pytest.mark.e2e


def answers_for(marker: str) -> dict[str, str]:
    """The scripted answers, made unique per citizen so cases cannot be mixed up."""
    return {
        **ANSWERS_ZH,
        "request": f"{ANSWERS_ZH['request']}（{marker}）",
        "facts": f"{ANSWERS_ZH['facts']}（{marker}）",
    }


async def conversation_of(db: Database, channel: str, address: str) -> tuple[int, Any]:
    """(version, case answers or None) of one citizen."""
    async with db.read() as conn:
        contact = await contact_repo.find(conn, Address(channel, address))
        assert contact is not None
        version = (
            await conn.execute(
                select(conversations.c.version).where(conversations.c.contact_id == contact.id)
            )
        ).scalar_one()
        rows = (
            await conn.execute(select(cases.c.answers).where(cases.c.contact_id == contact.id))
        ).all()
    return int(version), [r.answers for r in rows]


async def wechat_citizen(
    http: aiohttp.ClientSession, fleet: Fleet, db: Database, index: int
) -> None:
    openid = f"o-scale-{index:04d}"
    typed, expected = reference_petition(answers_for(openid))
    side = WeChatSide()
    for step, text in enumerate(typed):
        xml = message("text", openid, msg_id=10**15 + index * 1000 + step, Content=text)

        async def deliver(url: str, xml: str = xml) -> str:
            path, body = side.post(xml)  # each delivery signed afresh, same MsgId
            async with http.post(url + path, data=body.encode()) as resp:
                assert resp.status == 200, await resp.text()
                answer = await resp.text()
            return answer if answer == "success" else side.reply_text(answer)

        urls = fleet.urls[step % 2 :] + fleet.urls[: step % 2]
        first, second = await asyncio.gather(*(deliver(u) for u in urls[:2]))
        assert first == second, (first, second)
        version, _ = await conversation_of(db, "wechat", openid)
        assert version == step + 1, f"{openid}: message {step} stepped {version - step} times"
    _, found = await conversation_of(db, "wechat", openid)
    assert found == [expected] or (len(found) == 1 and _same_answers(found[0], expected))


async def telegram_citizen(
    http: aiohttp.ClientSession, fleet: Fleet, db: Database, index: int
) -> None:
    chat = 6_000_000 + index
    typed, expected = reference_petition(answers_for(f"tg-{index}"))
    for step, text in enumerate(typed):
        update = text_update(500_000 + index * 1000 + step, text, chat)
        urls = fleet.urls[step % 2 :] + fleet.urls[: step % 2]
        results = await asyncio.gather(*(post_telegram(http, u, update) for u in urls[:2]))
        assert [status for status, _ in results] == [200, 200], results
        version, _ = await conversation_of(db, "telegram", str(chat))
        assert version == step + 1, f"chat {chat}: update {step} stepped {version - step} times"
    _, found = await conversation_of(db, "telegram", str(chat))
    assert len(found) == 1 and _same_answers(found[0], expected)


async def webchat_citizen(fleet: Fleet, db: Database) -> None:
    """A web chat draft continued on whichever process gets the next message."""
    typed, expected = reference_petition(answers_for("web"))
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{fleet.urls[0]}/chat") as resp:
            assert resp.status == 200
        for step, text in enumerate(typed):
            url = fleet.urls[step % len(fleet.urls)]
            body = {"client_id": uuid.uuid4().hex, "text": text}
            async with http.post(f"{url}/chat/api/messages", json=body) as resp:
                assert resp.status == 200, await resp.text()
    async with db.read() as conn:
        found = (await conn.execute(select(cases.c.answers).where(cases.c.channel == "web"))).all()
    assert len(found) == 1 and _same_answers(found[0].answers, expected)


def _same_answers(stored: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(stored.get(key) == value for key, value in expected.items())


async def test_duplicate_deliveries_to_two_processes_step_each_conversation_once(
    pg_db: Database, tmp_path: Path, fake_wechat: FakeWeChat, fake_telegram: FakeTelegram
) -> None:
    env = {**wechat_env(fake_wechat), **telegram_env(fake_telegram)}
    fleet = Fleet(pg_db.url, tmp_path / "data", 2, **env)
    await fleet.start()
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(
                *(wechat_citizen(http, fleet, pg_db, i) for i in range(3)),
                *(telegram_citizen(http, fleet, pg_db, i) for i in range(3)),
                webchat_citizen(fleet, pg_db),
            )
        typed, _ = reference_petition(ANSWERS_ZH)
        assert await count_rows(pg_db, inbound_messages) == 7 * len(typed)
        assert await count_rows(pg_db, cases) == 7

        # every Telegram reply row went out once, although both processes ran a worker
        async def settled() -> bool:
            counts = await outbox_counts(pg_db)
            return counts.get("pending", 0) + counts.get("sending", 0) == 0

        await wait_until(settled, what="the outbox drained")
        async with pg_db.read() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.address, outbox.c.status).where(outbox.c.channel == "telegram")
                )
            ).all()
        assert rows and {r.status for r in rows} == {"sent"}
        per_chat = multiset(r.address for r in rows)
        for chat, n in per_chat.items():
            assert len(fake_telegram.sent(int(chat))) == n, chat
        assert "Traceback" not in fleet.logs()
    finally:
        fleet.stop()


async def test_outbox_rows_and_token_refresh_are_shared_by_three_processes(
    pg_db: Database, tmp_path: Path, fake_wechat: FakeWeChat, fake_telegram: FakeTelegram
) -> None:
    env = {
        **wechat_env(fake_wechat),
        **telegram_env(fake_telegram),
        "XINFANG_OUTBOX_BATCH": "5",  # small batches, so every worker gets a share
    }
    fleet = Fleet(pg_db.url, tmp_path / "data", 3, **env)
    await fleet.start()

    async def push(channel: str, addresses: list[str], per_address: int, tag: str) -> None:
        now = utc_now()
        async with pg_db.transaction() as conn:
            for address in addresses:
                contact = await contact_repo.get_or_create(conn, Address(channel, address), now)
                for n in range(per_address):
                    await outbox_repo.enqueue(
                        conn,
                        contact_id=contact.id,
                        address=Address(channel, address),
                        reply=Reply(f"您的信访事项有新进展 {tag}-{address}-{n}"),
                        now=now,
                    )

    async def drained() -> bool:
        counts = await outbox_counts(pg_db)
        return counts.get("pending", 0) + counts.get("sending", 0) == 0

    try:
        chats = [str(6_100_000 + i) for i in range(40)]
        openids = [f"o-push-{i:04d}" for i in range(40)]
        for openid in openids:
            fake_wechat.user_wrote(openid)
        await asyncio.gather(push("telegram", chats, 5, "a"), push("wechat", openids, 2, "a"))
        await wait_until(drained, seconds=60, what="all pushes sent")

        telegram_texts = multiset(
            (c.params["chat_id"], c.params["text"]) for c in fake_telegram.sent()
        )
        assert len(telegram_texts) == 200 and set(telegram_texts.values()) == {1}
        wechat_texts = multiset((m["touser"], m["content"]) for m in fake_wechat.custom)
        assert len(wechat_texts) == 80 and set(wechat_texts.values()) == {1}
        # three workers raced for one missing token: one fetched it, the others waited
        assert fake_wechat.token_requests == 1
        async with pg_db.read() as conn:
            workers = {
                r.claimed_by for r in (await conn.execute(select(outbox.c.claimed_by))).all()
            }
        assert len(workers) >= 2, workers

        # a refresh elsewhere invalidates the token: again, exactly one process refreshes
        fake_wechat.revoke_tokens()
        await push("wechat", openids, 1, "b")
        await wait_until(drained, seconds=60, what="the second round sent")
        wechat_texts = multiset((m["touser"], m["content"]) for m in fake_wechat.custom)
        assert len(wechat_texts) == 120 and set(wechat_texts.values()) == {1}
        assert fake_wechat.token_requests == 2
        assert await count_rows(pg_db, contacts) == 80
    finally:
        fleet.stop()
