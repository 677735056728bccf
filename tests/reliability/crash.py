"""Crash safety under load: citizens file petitions while `xinfang serve` is SIGKILLed.

Simulated citizens (half WeChat, half Telegram) each file one complete petition by
reading the bot's questions and answering them, through the local platform fakes.
Meanwhile server processes are killed with SIGKILL at random moments and restarted on
the same port. Staff accept every case as soon as its tracking number was given, which
queues a status push. At the end the database and the fakes are checked:

- every citizen who received a tracking number has exactly that case, with all answers
  (compared with what the pure dialog engine records for the same answers);
- no case exists twice; no conversation state is corrupted (each one still steps);
- every push and every queued reply was delivered once; a row whose send was cut off
  by a kill may arrive once more (neither WeChat nor Telegram can say whether a message
  arrived), which is counted and reported, and never more than once more;
- nothing is left claimed or failed in the outbox.

Platform-style retries: a WeChat request that fails or takes over 5 s is retried with
the same MsgId (WeChat retries three times; the simulation keeps retrying so that each
citizen's answers stay known — a real citizen would type again). A Telegram webhook
delivery is retried until it is answered 200. A citizen who hears nothing for
``--silence`` seconds types the last answer again (counted as "retyped").

Short form (CI, via tests/reliability/test_crash.py)::

    pytest tests/reliability/test_crash.py

Long form, by hand (PostgreSQL at XINFANG_TEST_PG_URL; a throwaway database is created)::

    python -m tests.reliability.crash --citizens 500 --kills 10
    python -m tests.reliability.crash --citizens 60 --kills 5 --database sqlite

It prints what it checked and the counts, and exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.cases.service import LifecycleService, load_case_config
from bot.channels import telegram, wechat
from bot.channels.base import render_text
from bot.dialogs.engine import STATE_VERSION, step
from bot.dialogs.texts import load_texts
from bot.dialogs.types import Event
from bot.messages import Capabilities, Reply
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.storage.tables import cases, contacts, conversations, outbox
from tests.channels.wechat.payloads import APP_ID, WeChatSide, message
from tests.conftest import CONFIG_DIR
from tests.dialogs.harness import make_config
from tests.fakes_telegram import FakeTelegram, text_update
from tests.fakes_wechat import FakeWeChat
from tests.petition import ANSWERS_ZH, CONFIRM_WORD, DONE_WORDS, PROMPTS, field_asked
from tests.reliability.support import (
    TELEGRAM_HEADERS,
    Fleet,
    multiset,
    reference_petition,
    telegram_env,
    wechat_env,
)

TRACKING = re.compile(r"XF\d{6}-\d{6}-\d")
WECHAT_DEADLINE_SECONDS = 5.0  # WeChat waits this long for an answer, then retries


@dataclass
class Config:
    """One run's shape."""

    citizens: int = 12
    kills: int = 3
    servers: int = 2
    kill_every: tuple[float, float] = (1.5, 4.0)  # seconds between kills, uniformly
    silence: float = 30.0  # a citizen who hears nothing this long types again
    lease_seconds: float = 3.0  # outbox lease: how soon a killed worker's rows are retaken
    deadline: float = 600.0  # give up on the run after this long
    seed: int = 0


@dataclass
class Report:
    """What was checked, with the counts."""

    config: Config
    dialect: str = ""
    kills: int = 0
    wechat_retries: int = 0
    telegram_retries: int = 0
    retyped: int = 0
    finished: int = 0
    cases: int = 0
    duplicate_cases: int = 0
    wrong_answers: int = 0
    pushes_due: int = 0
    pushes_delivered: int = 0
    pushes_extra: int = 0
    replies_queued: int = 0
    replies_delivered: int = 0
    replies_extra: int = 0
    conversations: int = 0
    corrupted: int = 0
    left: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        c = self.config
        wechat = (c.citizens + 1) // 2
        return [
            f"crash test: {c.citizens} citizens ({wechat} WeChat, {c.citizens - wechat} "
            f"Telegram), {c.servers} serve process(es) on {self.dialect}, "
            f"{self.kills} SIGKILLs, {self.seconds:.0f}s, seed {c.seed}",
            f"  citizens who received a tracking number: {self.finished}/{c.citizens}",
            f"  cases: {self.cases}; filed twice: {self.duplicate_cases}; "
            f"with wrong or missing answers: {self.wrong_answers}",
            f"  platform retries: WeChat {self.wechat_retries}, Telegram {self.telegram_retries}; "
            f"citizens who typed again after silence: {self.retyped}",
            f"  pushes due: {self.pushes_due}; delivered: {self.pushes_delivered}; "
            f"once more (platform cannot tell): {self.pushes_extra}",
            f"  replies queued: {self.replies_queued}; delivered: {self.replies_delivered}; "
            f"once more: {self.replies_extra}",
            f"  conversations checked: {self.conversations}; corrupted: {self.corrupted}",
            "  outbox left: "
            + ", ".join(f"{k} {self.left.get(k, 0)}" for k in ("pending", "sending", "failed")),
            *(f"  PROBLEM: {p}" for p in self.problems[:50]),
            "RESULT: " + ("ok" if self.ok else f"{len(self.problems)} problem(s)"),
        ]


class Run:
    """One crash run: fakes, server fleet, citizens, chaos, and the final checks."""

    def __init__(self, cfg: Config, database_url: str, workdir: Path) -> None:
        self.cfg = cfg
        self.url = database_url
        self.workdir = workdir
        self.rng = random.Random(cfg.seed)
        self.db = Database(database_url)
        self.report = Report(cfg, dialect=self.db.dialect)
        self.wechat = FakeWeChat(app_id=APP_ID)
        self.telegram = FakeTelegram(global_rate=1000, chat_interval=0.01)
        self.fleet: Fleet | None = None
        self.numbers: dict[str, str] = {}  # citizen key -> tracking number received
        self.expected: dict[str, dict[str, Any]] = {}
        self.accepting: set[asyncio.Task[None]] = set()
        self.done = asyncio.Event()
        self.texts = load_texts(CONFIG_DIR)
        self.staff = LifecycleService(self.db, load_case_config(CONFIG_DIR), self.texts)

    # -- set-up ------------------------------------------------------------------------

    async def start(self) -> None:
        await self.wechat.start()
        await self.telegram.start()
        env = {
            **wechat_env(self.wechat, aes=True),
            # an office moving to 安全模式: some citizens' messages still come in plaintext
            "XINFANG_WECHAT_ALLOW_PLAINTEXT": "true",
            **telegram_env(self.telegram),
            "XINFANG_OUTBOX_LEASE_SECONDS": str(self.cfg.lease_seconds),
            "XINFANG_LOG_LEVEL": "warning",
        }
        self.fleet = Fleet(self.url, self.workdir / "data", self.cfg.servers, **env)
        await self.fleet.start()

    async def stop(self) -> None:
        if self.fleet is not None:
            self.fleet.stop(signal.SIGKILL)
        await self.telegram.stop()
        await self.wechat.stop()
        await self.db.dispose()

    def pick(self) -> str:
        assert self.fleet is not None
        return self.rng.choice(self.fleet.urls)

    # -- chaos -------------------------------------------------------------------------

    async def chaos(self) -> None:
        assert self.fleet is not None
        for _ in range(self.cfg.kills):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), self.rng.uniform(*self.cfg.kill_every))
            if self.done.is_set():
                return
            await self.fleet.restart(self.rng.randrange(len(self.fleet.servers)))
            self.report.kills += 1

    # -- citizens ----------------------------------------------------------------------

    async def citizen(self, http: aiohttp.ClientSession, index: int) -> None:
        await asyncio.sleep(self.rng.uniform(0, 3))
        if index % 2 == 0:
            key = f"wechat:o-crash-{index:05d}"
            person: Person = WeChatPerson(self, http, f"o-crash-{index:05d}", aes=index % 4 == 0)
        else:
            key = f"telegram:{7_000_000 + index}"
            person = TelegramPerson(self, http, 7_000_000 + index)
        answers = {
            **ANSWERS_ZH,
            "request": f"{ANSWERS_ZH['request']}（{key}）",
            "facts": f"{ANSWERS_ZH['facts']}（{key}）",
        }
        self.expected[key] = reference_petition(answers)[1]
        number = await person.file(answers)
        self.numbers[key] = number.replace("-", "")  # stored without the reading hyphens
        self.report.finished += 1
        task = asyncio.create_task(self.accept(number))
        self.accepting.add(task)

    async def accept(self, number: str) -> None:
        """Staff accept the case: the lifecycle queues the citizen's status push."""
        await self.staff.accept(number, actor="crash-test")

    # -- the run -----------------------------------------------------------------------

    async def go(self) -> Report:
        started = time.monotonic()
        await self.start()
        try:
            async with aiohttp.ClientSession() as http:
                chaos = asyncio.create_task(self.chaos())
                citizens = [
                    asyncio.create_task(self.citizen(http, i)) for i in range(self.cfg.citizens)
                ]
                _, pending = await asyncio.wait(citizens, timeout=self.cfg.deadline)
                self.done.set()
                for task in pending:
                    task.cancel()
                for task in citizens:
                    if task.done() and not task.cancelled() and task.exception():
                        self.report.problems.append(f"citizen failed: {task.exception()!r}")
                if pending:
                    self.report.problems.append(f"{len(pending)} citizen(s) never finished")
                await chaos
                if self.accepting:
                    await asyncio.gather(*self.accepting)
            await self.drain()
            await self.check()
        finally:
            await self.stop()
            self.report.seconds = time.monotonic() - started
        return self.report

    async def drain(self) -> None:
        """Wait until every outbox row is settled (delivered or failed for good)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(60.0, self.cfg.lease_seconds * 10)
        while loop.time() < deadline:
            async with self.db.read() as conn:
                open_rows = (
                    await conn.execute(
                        select(outbox.c.id).where(outbox.c.status.in_(("pending", "sending")))
                    )
                ).all()
            if not open_rows:
                return
            await asyncio.sleep(0.2)

    # -- checks ------------------------------------------------------------------------

    async def check(self) -> None:
        r = self.report
        async with self.db.read() as conn:
            case_rows = (await conn.execute(select(cases))).all()
            contact_rows = {c.id: c for c in (await conn.execute(select(contacts))).all()}
            outbox_rows = (await conn.execute(select(outbox))).all()
            states = (await conn.execute(select(conversations))).all()
        r.cases = len(case_rows)
        by_contact = multiset(c.contact_id for c in case_rows)
        r.duplicate_cases = sum(n - 1 for n in by_contact.values())
        if r.duplicate_cases:
            r.problems.append(f"{r.duplicate_cases} case(s) filed twice")
        by_number = {c.tracking_no: c for c in case_rows}
        for key, number in sorted(self.numbers.items()):
            case = by_number.get(number)
            if case is None:
                r.problems.append(f"{key} was told {number}, which does not exist")
                continue
            contact = contact_rows[case.contact_id]
            if f"{contact.channel}:{contact.address}" != key:
                r.problems.append(f"{number} belongs to another citizen than {key}")
            wrong = {
                k: (case.answers.get(k), v)
                for k, v in self.expected[key].items()
                if case.answers.get(k) != v
            }
            if wrong:
                r.wrong_answers += 1
                r.problems.append(f"{number} ({key}) answers differ: {wrong}")
        told = set(self.numbers.values())
        for case in case_rows:
            if case.tracking_no not in told:
                # a confirmation committed, then the answer lost in a kill: the case
                # exists and the citizen can list it; nobody was told a wrong number
                contact = contact_rows[case.contact_id]
                key = f"{contact.channel}:{contact.address}"
                if key in self.numbers:
                    r.problems.append(f"{key} has an extra case {case.tracking_no}")

        r.left = multiset(row.status for row in outbox_rows)
        for status in ("pending", "sending", "failed"):
            if r.left.get(status):
                r.problems.append(f"{r.left[status]} outbox row(s) left {status}")
        self._deliveries([o for o in outbox_rows if o.kind == "push"], push=True)
        self._deliveries([o for o in outbox_rows if o.kind != "push"], push=False)
        if r.pushes_due < r.finished:
            r.problems.append(f"only {r.pushes_due} pushes queued for {r.finished} accepted cases")

        now = datetime.fromisoformat("2026-11-23T09:30:00+08:00")
        cfg = make_config()
        internal = {self.texts.get(lang, "error.internal") for lang in ("zh", "en")}
        for row in states:
            r.conversations += 1
            state = row.state
            ok = isinstance(state, dict) and state.get("v") == STATE_VERSION
            if ok:
                result = step(cfg, state, Event(kind="command", command="help"), now)
                ok = bool(result.replies) and not any(x.text in internal for x in result.replies)
            key = _key(contact_rows[row.contact_id])
            if ok and key in self.numbers and (state or {}).get("draft") is not None:
                ok = False  # a finished citizen's draft must be gone
            if not ok:
                r.corrupted += 1
                r.problems.append(f"conversation of {key} is corrupted: {str(state)[:200]}")

    def _deliveries(self, rows: list[Any], *, push: bool) -> None:
        """Compare the rows' texts with what the fakes received, per recipient."""
        r = self.report
        expected = multiset((o.channel, o.address, _text(o.channel, o.payload)) for o in rows)
        got: dict[tuple[str, str, str], int] = {}
        for call in self.telegram.sent():
            k = ("telegram", str(call.params["chat_id"]), str(call.params["text"]))
            got[k] = got.get(k, 0) + 1
        for m in self.wechat.custom:
            k = ("wechat", str(m["touser"]), str(m["content"]))
            got[k] = got.get(k, 0) + 1
        delivered = extra = 0
        for k, n in expected.items():
            seen = got.get(k, 0)
            if k[0] == "wechat" and seen == 0:
                # long replies are packed into several customer-service messages
                seen = _wechat_parts_seen(k[2], k[1], self.wechat.custom)
            delivered += min(seen, n)
            extra += max(0, seen - n)
            if seen < n:
                r.problems.append(f"{'push' if push else 'reply'} to {k[0]} lost: {k[2][:60]!r}")
            elif seen > 2 * n:
                r.problems.append(f"{'push' if push else 'reply'} delivered {seen}x: {k[2][:60]!r}")
        total = sum(expected.values())
        if push:
            r.pushes_due, r.pushes_delivered, r.pushes_extra = total, delivered, extra
        else:
            r.replies_queued, r.replies_delivered, r.replies_extra = total, delivered, extra


def _key(contact: Any) -> str:
    return f"{contact.channel}:{contact.address}"


def _text(channel: str, payload: dict[str, Any]) -> str:
    """The text the channel sends for a row (Telegram: buttons; WeChat: numbered choices)."""

    reply = Reply.from_json(payload)
    if channel == "telegram":
        if telegram.keyboard(reply) is not None:
            return reply.text
        return render_text(reply, Capabilities(buttons=False))
    return render_text(reply, wechat.CAPABILITIES)


def _wechat_parts_seen(text: str, openid: str, sent: list[dict[str, Any]]) -> int:

    parts = wechat.pack([render_text(Reply(text), wechat.CAPABILITIES)])
    counts = [sum(1 for m in sent if m["touser"] == openid and m["content"] == p) for p in parts]
    return min(counts) if counts else 0


# -- simulated people -------------------------------------------------------------------


class Person:
    """A citizen on some platform: sends, reads what the bot said, answers its question."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.read_upto = 0

    def inbox(self) -> list[str]:
        raise NotImplementedError

    async def send(self, text: str) -> None:
        raise NotImplementedError

    async def file(self, answers: dict[str, str]) -> str:
        """Fill in and confirm a petition; returns the tracking number received."""
        text = "新建"
        while True:
            said = await self.exchange(text)
            number = TRACKING.search(said)
            if number and "确认提交" not in said:
                return number.group(0)
            if "确认提交" in said:
                text = CONFIRM_WORD
                continue
            question = field_asked(said)
            assert question is not None, said
            text = answers[question]
            if question in DONE_WORDS:
                # several messages make one answer: send it, wait for the bot to take
                # it, then send the word that closes it
                await self.exchange(text, any_message=True)
                text = DONE_WORDS[question]

    async def exchange(self, text: str, *, any_message: bool = False) -> str:
        """Send, then wait for the bot's next question; type it again after a silence."""
        loop = asyncio.get_running_loop()
        while True:
            self.read_upto = len(self.inbox())
            await self.send(text)
            sent_at = loop.time()
            while loop.time() - sent_at < self.run.cfg.silence:
                said = await self.listen(any_message)
                if said:
                    return said
            self.run.report.retyped += 1

    async def listen(self, any_message: bool) -> str:
        """The newest question-like message since the last send, once messages settle."""
        await asyncio.sleep(0.3)
        if len(self.inbox()) <= self.read_upto:
            return ""
        await asyncio.sleep(0.3)  # more parts of a long reply may follow
        messages = self.inbox()[self.read_upto :]
        for text in reversed(messages):
            if any_message or TRACKING.search(text) or "确认提交" in text:
                return text
            if any(k in text for k in PROMPTS):
                return text
        return ""


class WeChatPerson(Person):
    def __init__(self, run: Run, http: aiohttp.ClientSession, openid: str, *, aes: bool) -> None:
        super().__init__(run)
        self.http = http
        self.openid = openid
        self.side = WeChatSide(aes=aes)
        self.passive: list[str] = []
        base = int(openid.rsplit("-", 1)[1]) * 10**6 + 10**15  # unique across citizens
        self.msg_ids = iter(range(base, base + 10**6))

    def inbox(self) -> list[str]:
        pushed = [m["content"] for m in self.run.wechat.custom if m["touser"] == self.openid]
        return self.passive + pushed

    async def send(self, text: str) -> None:
        self.run.wechat.user_wrote(self.openid)
        xml = message("text", self.openid, msg_id=next(self.msg_ids), Content=text)
        timeout = aiohttp.ClientTimeout(total=WECHAT_DEADLINE_SECONDS)
        while True:
            path, body = self.side.post(xml)
            try:
                async with self.http.post(
                    self.run.pick() + path, data=body.encode(), timeout=timeout
                ) as resp:
                    answer = await resp.text()
                    if resp.status == 200:
                        if answer != "success":
                            self.passive.append(self.side.reply_text(answer))
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.run.report.wechat_retries += 1
            await asyncio.sleep(0.5)


class TelegramPerson(Person):
    def __init__(self, run: Run, http: aiohttp.ClientSession, chat: int) -> None:
        super().__init__(run)
        self.http = http
        self.chat = chat
        self.update_ids = iter(range(chat * 1000, chat * 1000 + 10**3))

    def inbox(self) -> list[str]:
        return [str(c.params["text"]) for c in self.run.telegram.sent(self.chat)]

    async def send(self, text: str) -> None:
        update = text_update(next(self.update_ids), text, self.chat)
        while True:
            try:
                async with self.http.post(
                    self.run.pick() + "/telegram", json=update, headers=TELEGRAM_HEADERS
                ) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            self.run.report.telegram_retries += 1
            await asyncio.sleep(0.5)


# -- entry points -----------------------------------------------------------------------


async def run(cfg: Config, database_url: str, workdir: Path) -> Report:
    """One crash run against a migrated, empty database."""
    if database_url.startswith("sqlite"):
        cfg.servers = 1  # SQLite is the one-process deployment
    return await Run(cfg, database_url, workdir).go()


async def _main(cfg: Config, database: str) -> Report:
    from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database

    with tempfile.TemporaryDirectory(prefix="xinfang-crash-") as tmp:
        workdir = Path(tmp)
        created = ""
        if database == "sqlite":
            url = f"sqlite+aiosqlite:///{workdir / 'xinfang.sqlite3'}"
        elif database == "postgresql":
            made = await _create_pg_database()
            if made is None:
                raise SystemExit(f"PostgreSQL unreachable at {PG_URL}")
            url = created = made
        else:
            url = database
        db = Database(url)
        await upgrade(db)
        await db.dispose()
        try:
            return await run(cfg, url, workdir)
        finally:
            if created:
                await _drop_pg_database(created)


def main(argv: list[str] | None = None, out: Callable[[str], Any] = print) -> int:
    """Command line: python -m tests.reliability.crash --citizens N --kills K."""
    p = argparse.ArgumentParser(prog="python -m tests.reliability.crash", description=__doc__)
    p.add_argument("--citizens", type=int, default=Config.citizens)
    p.add_argument("--kills", type=int, default=Config.kills)
    p.add_argument("--servers", type=int, default=Config.servers)
    p.add_argument(
        "--kill-every",
        type=float,
        nargs=2,
        default=Config.kill_every,
        metavar=("MIN", "MAX"),
        help="seconds between kills (uniform)",
    )
    p.add_argument("--silence", type=float, default=Config.silence)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--database",
        default="postgresql",
        help="postgresql (a throwaway database at XINFANG_TEST_PG_URL), sqlite, or a URL",
    )
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    cfg = Config(
        citizens=args.citizens,
        kills=args.kills,
        servers=args.servers,
        kill_every=tuple(args.kill_every),
        silence=args.silence,
        deadline=max(600.0, args.citizens * 6.0),
        seed=seed,
    )
    report = asyncio.run(_main(cfg, args.database))
    for line in report.lines():
        out(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
