"""End to end over real HTTP against a running `xinfang serve` process (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.clock import utc_now
from bot.messages import Address, Reply
from bot.storage import outbox
from bot.storage.db import Database
from bot.storage.tables import cases, contacts, metadata
from tests.petition import ANSWERS_ZH, CONFIRM_WORD, field_asked
from tests.server import Server

pytestmark = pytest.mark.e2e


@pytest.fixture
async def database(db: Database) -> AsyncIterator[Database]:
    """The test database, empty (the server migrates it again: a no-op at head)."""
    yield db


@pytest.fixture
def server_factory(db_url: str, tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def make() -> Server:
        server = Server(db_url, tmp_path / "data")
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop(signal.SIGKILL)


class Citizen:
    """A browser-like client of the web chat (cookie jar, client ids)."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def open(self) -> None:
        async with self.http.get(f"{self.base}/chat") as resp:
            assert resp.status == 200
            assert "text/html" in resp.headers["Content-Type"]

    async def say(self, text: str, client_id: str | None = None) -> list[dict[str, Any]]:
        body = {"client_id": client_id or uuid.uuid4().hex, "text": text}
        async with self.http.post(f"{self.base}/chat/api/messages", json=body) as resp:
            assert resp.status == 200, await resp.text()
            return list((await resp.json())["replies"])

    async def history(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.base}/chat/api/history") as resp:
            assert resp.status == 200
            return list((await resp.json())["messages"])


def joined(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r["text"] for r in replies)


async def fill_until_confirm(citizen: Citizen, replies: list[dict[str, Any]]) -> str:
    """Answer questions by recognising their prompts; returns the read-back text."""
    for _ in range(40):
        last = replies[-1]["text"]
        if "确认提交" in last:
            return joined(replies)
        field = field_asked(last)
        assert field is not None, f"unrecognised question: {last}"
        replies = await citizen.say(ANSWERS_ZH[field])
        if field == "facts":
            replies = await citizen.say("完成")
    raise AssertionError("never reached the read-back")


async def test_petition_over_http_with_duplicates_concurrency_restart_and_push(
    database: Database, server_factory: Any
) -> None:
    server = server_factory()
    await server.start()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        citizen = Citizen(http, server.url)
        await citizen.open()
        replies = await citizen.say("新建")

        # the same message delivered twice (a retry): same reply, stepped once
        first = await citizen.say(ANSWERS_ZH["appeal_type"], client_id="retry-0001")
        again = await citizen.say(ANSWERS_ZH["appeal_type"], client_id="retry-0001")
        assert [r["text"] for r in first] == [r["text"] for r in again]
        assert "姓名" in first[-1]["text"]

        # two messages of one conversation at once: both processed, one after the other
        both = await asyncio.gather(citizen.say("张三"), citizen.say("13812345678"))
        assert all(both)
        history = await citizen.history()
        assert [m["text"] for m in history if m["direction"] == "in"][-2:] in (
            ["张三", "13812345678"],
            ["13812345678", "张三"],
        )

        # kill the server mid-petition; the draft resumes on a fresh process
        server.stop(signal.SIGKILL)
        server = server_factory()
        await server.start()
        citizen.base = server.url
        replies = await citizen.say("继续")
        if "姓名" in replies[-1]["text"]:  # phone arrived first: name still asked
            replies = await citizen.say("张三")
        if "手机" in replies[-1]["text"]:
            replies = await citizen.say("13812345678")
        readback = await fill_until_confirm(citizen, replies)
        assert "13812345678" in readback
        done = await citizen.say(CONFIRM_WORD)
        async with database.read() as conn:
            number = (await conn.execute(select(cases.c.tracking_no))).scalar_one()
            contact_id = (
                await conn.execute(select(contacts.c.id).where(contacts.c.channel == "web"))
            ).scalar_one()
        assert number[2:8] in joined(done)

        # a push (what a case transition writes) arrives live over SSE and in the history
        async with http.get(f"{server.url}/chat/api/events") as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            async with database.transaction() as conn:
                web_address = (
                    await conn.execute(
                        select(contacts.c.address).where(contacts.c.id == contact_id)
                    )
                ).scalar_one()
                await outbox.enqueue(
                    conn,
                    contact_id=contact_id,
                    address=Address("web", web_address),
                    reply=Reply("您的信访事项已受理。"),
                    now=utc_now(),
                )
            event = await asyncio.wait_for(_next_event(stream), timeout=20)
        assert event["text"] == "您的信访事项已受理。"
        assert any(m["id"] == event["id"] for m in await citizen.history())

        # status by number, typed the way a phone user would
        typed = f" ｘｆ{number[2:8]}－{number[8:14]} {number[14:]} "
        status = await citizen.say(typed)
        assert number[2:8] in joined(status)


async def _next_event(stream: aiohttp.ClientResponse) -> dict[str, Any]:
    data = ""
    async for raw in stream.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("data: "):
            data = line[6:]
        elif line == "" and data:
            return dict(json.loads(data))
    raise AssertionError("stream ended")


async def test_health_readiness_metrics_and_bad_requests(
    database: Database, server_factory: Any
) -> None:
    server = server_factory()
    await server.start()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{server.url}/healthz") as resp:
            assert resp.status == 200
        async with http.get(f"{server.url}/metrics") as resp:
            assert "xinfang_outbox_rows" in await resp.text() or resp.status == 200
        # no session cookie
        async with http.post(f"{server.url}/chat/api/messages", json={}) as resp:
            assert resp.status == 401
        await Citizen(http, server.url).open()
        api = f"{server.url}/chat/api/messages"
        async with http.post(api, data="{bad", headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400
        async with http.post(api, data="x=1") as r:
            assert r.status == 415
        async with http.post(api, json={"client_id": "abcdefgh", "text": "字" * 5001}) as r:
            assert r.status == 413 and "5000" in (await r.json())["error"]
        async with http.post(
            api, data=b"a" * 2_000_000, headers={"Content-Type": "application/json"}
        ) as r:
            assert r.status == 413
        headers = {"Origin": "http://evil.example"}
        async with http.post(
            api, json={"client_id": "abcdefgh", "text": "hi"}, headers=headers
        ) as r:
            assert r.status == 403
    server.stop(signal.SIGTERM)
    assert server.proc is not None and server.proc.returncode == 0


def test_tables_exist_for_e2e() -> None:
    assert {"cases", "outbox", "contacts"} <= set(metadata.tables)
