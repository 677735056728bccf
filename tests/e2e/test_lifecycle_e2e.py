"""End to end: a petition filed over the web chat goes through its lifecycle (SQLite, PostgreSQL).

A real `xinfang serve` process runs the web chat and the outbox worker. Staff act on the
same database through the lifecycle service and the `xinfang case` CLI; every step's
push reaches the citizen's chat live (SSE) and stays in the chat history, the 回访
follow-up arrives when due, a status query shows the latest step, and the citizen rates
the answer by message.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.cases.service import LifecycleService, load_case_config
from bot.clock import utc_now
from bot.dialogs.texts import load_texts
from bot.storage.db import Database
from bot.storage.tables import cases, outbox
from tests.e2e.test_webchat_e2e import Citizen, fill_until_confirm, joined
from tests.petition import CONFIRM_WORD
from tests.server import ROOT, Server

pytestmark = pytest.mark.e2e

CONFIG_DIR = ROOT / "config"


@pytest.fixture
def server(db_url: str, db: Database, tmp_path: Path) -> Iterator[Server]:
    """A `xinfang serve` process on the (migrated, empty) test database."""
    srv = Server(db_url, tmp_path / "data")
    yield srv
    srv.stop(signal.SIGKILL)


async def _events(stream: aiohttp.ClientResponse, queue: asyncio.Queue[dict[str, Any]]) -> None:
    data = ""
    async for raw in stream.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("data: "):
            data = line[6:]
        elif line == "" and data:
            await queue.put(dict(json.loads(data)))
            data = ""


async def _push(queue: asyncio.Queue[dict[str, Any]], needle: str) -> dict[str, Any]:
    """The next pushed message that contains ``needle`` (earlier ones are skipped)."""
    while True:
        event = await asyncio.wait_for(queue.get(), timeout=20)
        if needle in event.get("text", ""):
            return event


def _cli(server: Server, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "case", "--actor", "staff:cli", *args],
        env=server.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


async def test_case_accepted_assigned_extended_answered_and_rated(
    db: Database, server: Server
) -> None:
    await server.start()
    service = LifecycleService(db, load_case_config(CONFIG_DIR), load_texts(CONFIG_DIR))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        citizen = Citizen(http, server.url)
        await citizen.open()
        readback = await fill_until_confirm(citizen, await citizen.say("新建"))
        assert "西湖区" in readback
        done = await citizen.say(CONFIRM_WORD)
        async with db.read() as conn:
            number = (await conn.execute(select(cases.c.tracking_no))).scalar_one()
        assert number[2:8] in joined(done)
        shown = number[:8] + "-" + number[8:14] + "-" + number[14:]

        # before any answer there is nothing to rate
        assert "没有可以评价的事项" in joined(await citizen.say("满意"))

        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        async with http.get(f"{server.url}/chat/api/events") as stream:
            reader = asyncio.create_task(_events(stream, queue))
            try:
                await service.accept(number, actor="staff:li")
                accepted = await _push(queue, "已受理")
                assert shown in accepted["text"]

                await service.assign(number, actor="staff:li")  # routed: 西湖区 + 劳动社保
                assigned = await _push(queue, "交由")
                assert "西湖区人力资源和社会保障局" in assigned["text"]

                out = await asyncio.to_thread(
                    _cli, server, "extend", number, "--days", "15", "--reason", "需调取用工记录"
                )
                assert "extend -> extended" in out and "1 push(es)" in out
                extended = await _push(queue, "延长至")
                assert "需调取用工记录" in extended["text"]

                await asyncio.to_thread(
                    _cli,
                    server,
                    "answer",
                    number,
                    "--outcome",
                    "supported",
                    "--text",
                    "经调查核实，某某建筑公司已于本月支付拖欠工资。",
                )
                answered = await _push(queue, "已出具处理意见")
                assert "支持" in answered["text"] and "申请复查" in answered["text"]

                # a week later (moved forward in the table) the 回访 reaches the open chat
                async with db.transaction() as conn:
                    await conn.execute(
                        update(outbox)
                        .where(outbox.c.kind == "followup", outbox.c.status == "scheduled")
                        .values(next_attempt_at=utc_now())
                    )
                followup = await _push(queue, "回访")
                assert shown in followup["text"] and "申请复查" in followup["text"]
            finally:
                reader.cancel()

        progress = joined(await citizen.say(shown))
        assert "最新进展：" in progress and "已出具处理意见（支持）" in progress

        rated = await citizen.say("基本满意，希望以后处理快一些")
        assert "感谢您的评价" in joined(rated) and shown in joined(rated)
        case = await service.get(number)
        assert case.status == "answered"
        assert case.rating == "basically_satisfied"
        assert case.rating_comment == "希望以后处理快一些"

        # every push is in the chat history, in order
        history = [m["text"] for m in await citizen.history() if m["direction"] == "out"]
        steps = [
            next(i for i, t in enumerate(history) if needle in t)
            for needle in ("已受理", "交由", "延长至", "已出具处理意见", "回访", "感谢您的评价")
        ]
        assert steps == sorted(steps)

        show = await asyncio.to_thread(_cli, server, "show", number)
        assert "status      answered" in show and "basically_satisfied" in show
