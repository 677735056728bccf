"""Terminal channel: `xinfang chat` talks to the same engine and database as the server."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable
from typing import TextIO

from bot.channels.base import render_text
from bot.channels.mailbox import MailboxChannel
from bot.channels.spec import ChannelSpec
from bot.clock import utc_now
from bot.intake import Intake
from bot.messages import Address, Capabilities, InboundMessage, Reply
from bot.settings import Settings
from bot.storage import contacts, outbox
from bot.storage.db import Database

NAME = "terminal"
CAPABILITIES = Capabilities(buttons=False, max_text_len=100_000, push=True)
PUSH_POLL_SECONDS = 2.0
QUIT_WORDS = frozenset({"/quit", "/exit", "退出"})


class TerminalChat:
    """A read-eval-print loop over stdin/stdout for operators and demos."""

    def __init__(
        self,
        intake: Intake,
        db: Database,
        user: str,
        *,
        out: TextIO = sys.stdout,
        read_line: Callable[[], str] = lambda: input("你> "),
    ) -> None:
        self.intake = intake
        self.db = db
        self.address = Address(NAME, user)
        self.out = out
        self.read_line = read_line
        self._last_push = -1

    def _show(self, reply: Reply, lang: str) -> None:
        text = render_text(reply, CAPABILITIES, lang)
        self.out.write("\n".join("bot> " + line for line in text.splitlines()) + "\n")
        self.out.flush()

    async def _lang(self) -> str:
        async with self.db.read() as conn:
            contact = await contacts.find(conn, self.address)
        return contact.lang if contact else "zh"

    async def _show_pushes(self) -> None:
        async with self.db.read() as conn:
            contact = await contacts.find(conn, self.address)
            if contact is None:
                return
            if self._last_push < 0:  # pushes delivered before this session were seen
                self._last_push = await outbox.delivered_before_last(conn, contact.id, 0)
                return
            rows = await outbox.delivered_to(conn, contact.id, self._last_push)
        for row in rows:
            self._show(Reply.from_json(row.payload), contact.lang)
            self._last_push = row.id

    async def _watch_pushes(self) -> None:
        while True:
            await self._show_pushes()
            await asyncio.sleep(PUSH_POLL_SECONDS)

    async def send(self, text: str, command: str = "") -> list[Reply]:
        """Send one line (or a command) as the citizen and print the replies."""
        msg = InboundMessage(
            address=self.address,
            external_id=uuid.uuid4().hex,
            received_at=utc_now(),
            text=text,
            command=command,
        )
        result = await self.intake.handle(msg)
        lang = await self._lang()
        for reply in result.replies:
            self._show(reply, lang)
        return result.replies

    async def run(self) -> None:
        """Greet, then relay lines until end of input or /quit."""
        self.out.write("xinfang chat — 输入 /quit 退出 (type /quit to leave)\n")
        await self._show_pushes()
        await self.send("", command="start")
        watcher = asyncio.create_task(self._watch_pushes())
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    line = await loop.run_in_executor(None, self.read_line)
                except EOFError:
                    break
                if line.strip() in QUIT_WORDS:
                    break
                if line.strip():
                    await self.send(line)
        finally:
            watcher.cancel()


def build(_settings: Settings, _db: Database) -> MailboxChannel:
    """The outbound side: a mailbox `xinfang chat` polls."""
    return MailboxChannel(NAME, CAPABILITIES)


SPEC = ChannelSpec(
    name=NAME,
    labels=("终端", "Terminal"),
    capabilities=CAPABILITIES,
    build=build,
    mailbox=True,
)
