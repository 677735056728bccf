"""Shared pieces of the reliability tests: server processes, platform fakes, counting."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bot.dialogs.types import Event
from bot.storage.db import Database
from bot.storage.tables import outbox
from tests.channels.wechat.payloads import AES_KEY, APP_ID, TOKEN
from tests.dialogs.harness import START, Conversation, FakeStore, make_config
from tests.fakes_telegram import TOKEN as TELEGRAM_TOKEN
from tests.fakes_telegram import FakeTelegram
from tests.fakes_wechat import FakeWeChat
from tests.petition import answer_for, current_question
from tests.server import Server

TELEGRAM_SECRET = "reliability-secret"
TELEGRAM_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}


def wechat_env(fake: FakeWeChat, *, aes: bool = False) -> dict[str, str]:
    """Settings that turn WeChat on against the fake API."""
    return {
        "XINFANG_WECHAT_TOKEN": TOKEN,
        "XINFANG_WECHAT_APP_ID": APP_ID,
        "XINFANG_WECHAT_APP_SECRET": fake.app_secret,
        "XINFANG_WECHAT_AES_KEY": AES_KEY if aes else "",
        "XINFANG_WECHAT_TEMPLATE_ID": fake.template_id,
        "XINFANG_WECHAT_API_BASE": fake.url,
    }


def telegram_env(fake: FakeTelegram) -> dict[str, str]:
    """Settings that turn Telegram (webhook mode) on against the fake Bot API."""
    return {
        "XINFANG_TELEGRAM_TOKEN": TELEGRAM_TOKEN,
        "XINFANG_TELEGRAM_SECRET": TELEGRAM_SECRET,
        "XINFANG_TELEGRAM_API_BASE": fake.url,
        "XINFANG_TELEGRAM_RATE_PER_SECOND": "0",
        "XINFANG_TELEGRAM_RATE_PER_CHAT_PER_SECOND": "20",
    }


class Fleet:
    """Several `xinfang serve` processes on one database, each on its own port."""

    def __init__(self, database_url: str, data_dir: Path, count: int, **env: str) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.env = env
        self.servers = [Server(database_url, data_dir, **env) for _ in range(count)]

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    async def start(self) -> None:
        await asyncio.gather(*(s.start() for s in self.servers))

    async def restart(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Stop one process (SIGKILL by default) and start a new one on the same port."""
        old = self.servers[index]
        old.stop(sig)
        new = Server(self.database_url, self.data_dir, **self.env)
        new.port, new.url = old.port, old.url
        new.env["XINFANG_PORT"] = str(old.port)
        self.servers[index] = new
        await new.start()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop(sig)

    def logs(self) -> str:
        return "\n".join(s.log.read_text(errors="replace") for s in self.servers if s.log.exists())


async def outbox_counts(db: Database) -> dict[str, int]:
    """Outbox rows per status."""
    async with db.read() as conn:
        rows = await conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
        return {str(r[0]): int(r[1]) for r in rows}


async def count_rows(db: Database, table: Any, *where: Any) -> int:
    """How many rows of ``table`` match."""
    async with db.read() as conn:
        query = select(func.count()).select_from(table)
        for clause in where:
            query = query.where(clause)
        return int((await conn.execute(query)).scalar_one())


async def wait_until(check: Any, seconds: float = 30.0, what: str = "condition") -> None:
    """Poll an (async or plain) predicate until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not reached within {seconds:g}s")


async def post_telegram(
    http: aiohttp.ClientSession, url: str, update: dict[str, Any]
) -> tuple[int, str]:
    """One webhook delivery as Telegram makes it."""
    async with http.post(f"{url}/telegram", json=update, headers=TELEGRAM_HEADERS) as resp:
        return resp.status, await resp.text()


def multiset(items: Iterable[Any]) -> dict[Any, int]:
    """Counts of equal items."""
    counts: dict[Any, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def reference_petition(answers: dict[str, str]) -> tuple[list[str], dict[str, Any]]:
    """What a scripted citizen types, and the answers a case must hold, from the pure engine.

    Runs the dialog engine in memory (no server, no database) with the same answering rule
    the tests use against the server, so a case written under load, restarts and
    duplicate deliveries can be compared with what one clean conversation produces.
    """
    conv = Conversation(make_config(), FakeStore(), datetime.fromisoformat(START))
    typed: list[str] = []
    text = "新建"
    for _ in range(60):
        typed.append(text)
        record = conv.handle(Event(kind="text", text=text))
        effect = record.get("effect") or {}
        if effect.get("kind") == "submit":
            return typed, dict(effect["answers"])
        question = current_question(conv.state)
        assert question is not None, record
        assert conv.state is not None
        text = answer_for(question, conv.state, answers)
    raise AssertionError("the reference petition never reached submission")


class Outage:
    """A TCP forwarder in front of a fake platform: ``down()`` makes it unreachable.

    The fake keeps its state; the server only sees connections refused (and, for calls
    in flight, reset) until ``up()`` listens again on the same port.
    """

    def __init__(self, target_url: str) -> None:
        host, port = target_url.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._pipes):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._pipes.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._pipes.difference_update((writer, up_writer))
