"""Broadcast (target 4): 50 000 outbox rows of kind "broadcast" through the real worker.

The fake Bot API (tests/fakes_telegram.py) runs in its own process on the load CPU with
a cap of 1 000 messages/s; the OutboxWorker runs in another on the server CPU with its
rate set to the cap, built as `xinfang serve` builds it (Telegram clients, batch size).
Partway through (timed from the first send), the worker is killed with SIGKILL and a
new one resumes. Rows the dead worker held are broadcast rows whose delivery is unknown:
they are failed as "unconfirmed" when their lease expires, never sent twice.

Reported: the sustained send rate as a share of the cap (each worker's steady part),
429s caused, duplicates (a chat that got the message twice), unconfirmed rows (and how
many of them did arrive), lost rows (never delivered, and nothing says so), rows left
undelivered, the gap between the kill and the next send, and the resuming worker's CPU
per message (``cpu_us_per_msg``: the delivery loop; ``process_cpu_us_per_msg``: the
whole process, start-up and imports included).

The baseline ratio is the cap itself: ≥ 95% of 1 000/s is the target.

``python -m bench.broadcast [--long] [--db sqlite|postgresql|both] [--rows N] [--profile]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import common

TOKEN = "123456:BENCH-token"
LEASE_SECONDS = 5.0


async def _fill(url: str, rows: int) -> None:
    """Contacts and outbox rows, in chunks (what a staff broadcast writes)."""
    from bot.clock import utc_now
    from bot.messages import Address, Reply
    from bot.storage import contacts, outbox
    from bot.storage.db import Database
    from bot.storage.migrate import upgrade

    db = Database(url)
    await upgrade(db)
    now = utc_now()
    text = "【通知】信访事项网上受理平台将于本周六 02:00–04:00 维护，期间暂停受理。"
    try:
        for start in range(0, rows, 2000):
            addresses = [
                Address("telegram", str(9_000_000 + i))
                for i in range(start, min(rows, start + 2000))
            ]
            async with db.transaction() as conn:
                found = await contacts.get_or_create_many(conn, addresses, now)
                await outbox.enqueue_many(
                    conn,
                    [
                        outbox.NewMessage(found[a].id, a, Reply(text), kind="broadcast")
                        for a in addresses
                    ],
                    now,
                )
    finally:
        await db.dispose()


async def _pending(url: str) -> int:
    from sqlalchemy import func, select

    from bot.storage.db import Database
    from bot.storage.tables import outbox

    db = Database(url)
    try:
        async with db.read() as conn:
            q = select(func.count()).where(outbox.c.status.in_(["pending", "sending"]))
            return int((await conn.execute(q)).scalar_one())
    finally:
        await db.dispose()


def serve_fake(port: int, rate: float) -> None:
    """Run the fake Bot API until killed."""
    from tests.fakes_telegram import FakeTelegram

    async def main() -> None:
        fake = FakeTelegram(token=TOKEN, global_rate=rate, chat_interval=1.0)
        from aiohttp import web

        async def chats(_request: web.Request) -> web.Response:
            per_chat: dict[str, int] = {}
            for call in fake.sent():
                chat = str(call.params.get("chat_id"))
                per_chat[chat] = per_chat.get(chat, 0) + 1
            return web.json_response(per_chat)

        # FakeTelegram.start binds a random port; bind the one we were given instead
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", fake._api)
        app.router.add_get("/_fake/stats", fake._stats)
        app.router.add_get("/_fake/chats", chats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    asyncio.run(main())


def run_worker(url: str, api: str, rate: float) -> None:
    """Run one OutboxWorker over the Telegram channel until the outbox is empty."""
    from bot.channels.telegram import TelegramChannel, capabilities, make_bot, make_requests
    from bot.outbox import OutboxWorker
    from bot.settings import load_settings
    from bot.storage.db import Database

    settings = load_settings(
        database_url=url,
        telegram_token=TOKEN,
        telegram_api_base=api,
        telegram_rate_per_second=rate,
    )

    async def main() -> float:
        db = Database(url)
        requests = make_requests(settings)  # what `xinfang serve` uses
        bot = make_bot(settings, requests=requests)
        channel = TelegramChannel(bot, capabilities(settings))
        worker = OutboxWorker(
            db,
            {"telegram": channel},
            batch=settings.outbox_batch,  # XINFANG_OUTBOX_BATCH, as in `xinfang serve`
            lease=timedelta(seconds=LEASE_SECONDS),
            poll_seconds=0.2,
        )
        stop = asyncio.Event()

        async def watch() -> None:
            while not stop.is_set():
                await asyncio.sleep(1.0)
                if await _pending(url) == 0:
                    stop.set()

        watcher = asyncio.create_task(watch())
        cpu_before = time.process_time()
        await worker.run(stop)
        cpu = time.process_time() - cpu_before
        await watcher
        await asyncio.gather(*(r.shutdown() for r in requests))
        await db.dispose()
        return cpu

    cpu = asyncio.run(main())
    out = os.environ.get("BENCH_WORKER_CPU")
    if out:  # CPU of the delivery itself, without interpreter start and imports
        Path(out).write_text(json.dumps({"cpu_s": cpu}))


def _stats(fake_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{fake_url}/_fake/stats", timeout=30) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


def _steady_rate(times: list[float]) -> float:
    """Sends per second over the middle 90% of a worker's sends (no ramp-up or tail)."""
    if len(times) < 20:
        return 0.0
    lo, hi = int(len(times) * 0.05), int(len(times) * 0.95)
    span = times[hi] - times[lo]
    return (hi - lo) / span if span > 0 else 0.0


def _chats(fake_url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{fake_url}/_fake/chats", timeout=60) as resp:
        data: dict[str, int] = json.loads(resp.read())
        return data


async def _outcome(url: str) -> list[tuple[str, str, str]]:
    """(address, status, last_error) of every outbox row."""
    from sqlalchemy import select

    from bot.storage.db import Database
    from bot.storage.tables import outbox

    db = Database(url)
    try:
        async with db.read() as conn:
            q = select(outbox.c.address, outbox.c.status, outbox.c.last_error)
            return [(r[0], r[1], r[2] or "") for r in (await conn.execute(q)).all()]
    finally:
        await db.dispose()


def _wait(popen: subprocess.Popen[bytes], timeout: float) -> float:
    """Wait for a worker; returns its CPU seconds (user + system, from wait4)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, _status, usage = os.wait4(popen.pid, os.WNOHANG)
        if pid:
            popen.returncode = 0
            return float(usage.ru_utime + usage.ru_stime)
        if time.monotonic() > deadline:
            popen.kill()
            pid, _status, usage = os.wait4(popen.pid, 0)
            popen.returncode = -9
            return float(usage.ru_utime + usage.ru_stime)
        time.sleep(0.05)


def _stalls(times: list[float], cap: float) -> tuple[float, float]:
    """Seconds lost to gaps over 5 ms in the steady part, and the longest gap."""
    lo, hi = int(len(times) * 0.05), int(len(times) * 0.95)
    gaps = [b - a for a, b in zip(times[lo:hi], times[lo + 1 : hi], strict=False)]
    lost = sum(g - 1 / cap for g in gaps if g > 0.005)
    return lost, max(gaps, default=0.0)


def run(
    database: str, rows: int, cap: float, kill_after: float, profile: bool = False
) -> dict[str, Any]:
    """Fill, deliver with a kill in between, and read the fake's counts."""
    from bot.storage.outbox import UNCONFIRMED

    with common.workdir() as tmp, ExitStack() as stack:
        if database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}"
        else:
            url = stack.enter_context(common.pg_database())
        started = time.perf_counter()
        asyncio.run(_fill(url, rows))
        fill_s = time.perf_counter() - started
        port = common.free_port()
        fake = common.start(
            [sys.executable, "-m", "bench.broadcast", "--serve-fake", str(port), str(cap)],
            port=port,
            log=tmp / "fake.log",
            cpu=common.LOAD_CPU,
            ready_path="/_fake/stats",
        )
        stack.callback(fake.stop)
        worker_cmd = [sys.executable, "-m", "bench.broadcast", "--worker", url, fake.url, str(cap)]
        pinned = [*common.pinned(common.SERVER_CPU)]
        env = {**os.environ, "XINFANG_LOG_LEVEL": "warning"}
        log = (tmp / "worker.log").open("ab")
        first = subprocess.Popen(
            [*pinned, *worker_cmd], cwd=common.ROOT, env=env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 120
        while _stats(fake.url)["sent"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)  # the kill is timed from the first send, not the slow start
        time.sleep(kill_after)
        first.send_signal(signal.SIGKILL)
        first_cpu = _wait(first, 30)
        killed_at = time.monotonic()
        before = _stats(fake.url)["sent"]
        raw = common.RESULTS / f"profile-broadcast-{database}.txt"
        second_cmd = [*pinned, *worker_cmd]
        if profile:
            pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            common.RESULTS.mkdir(parents=True, exist_ok=True)
            second_cmd = [
                *pinned,
                pyspy,
                "record",
                "--format",
                "raw",
                "--rate",
                "200",
                "-o",
                str(raw),
                "--",
                *worker_cmd,
            ]
        cpu_file = tmp / "worker-cpu.json"
        second = subprocess.Popen(
            second_cmd,
            cwd=common.ROOT,
            env={**env, "BENCH_WORKER_CPU": str(cpu_file)},
            stdout=log,
            stderr=log,
        )
        second_cpu = _wait(second, rows / cap * 5 + 120)
        delivery_cpu = json.loads(cpu_file.read_text())["cpu_s"] if cpu_file.exists() else 0.0
        stats = _stats(fake.url)
        per_chat = _chats(fake.url)
        times = stats["sent_at"]
        first_times, second_times = times[:before], times[before:]
        resumed_gap = (second_times[0] - killed_at) if second_times else 0.0
        rate = min(_steady_rate(first_times), _steady_rate(second_times))
        stalls = [_stalls(t, cap) for t in (first_times, second_times)]
        outcome = asyncio.run(_outcome(url))
        left = sum(1 for _, status, _ in outcome if status in ("pending", "sending"))
        unconfirmed = [a for a, status, err in outcome if status == "failed" and err == UNCONFIRMED]
        failed_other = sum(
            1 for _, status, err in outcome if status == "failed" and err != UNCONFIRMED
        )
        # a row is lost when its chat never got the message and nothing says so
        lost = sum(
            1
            for address, status, _ in outcome
            if status not in ("failed", "pending", "sending") and not per_chat.get(address)
        )
        result = {
            "benchmark": "broadcast",
            "db": database,
            "rows": rows,
            "cap_per_s": cap,
            "sustained_per_s": round(rate),
            "ratio_to_cap": round(rate / cap, 3),
            "target": 0.95,
            "met": rate / cap >= 0.95
            and stats["status_429"] == 0
            and stats["duplicates"] == 0
            and left == 0
            and lost == 0,
            "sent_before_kill": before,
            "delivered": stats["sent"] - stats["duplicates"],
            "status_429": stats["status_429"],
            "duplicates": stats["duplicates"],
            "unconfirmed": len(unconfirmed),
            "unconfirmed_delivered": sum(1 for a in unconfirmed if per_chat.get(a)),
            "failed_other": failed_other,
            "lost": lost,
            "left_undelivered": left,
            "resume_gap_s": round(resumed_gap, 1),
            "max_gap_ms": round(max(g for _, g in stalls) * 1000),  # longest pause, steady part
            "rates_per_s": [round(_steady_rate(t)) for t in (first_times, second_times)],
            # the resuming worker's CPU per message it sent: delivery only, and whole process
            "cpu_us_per_msg": round(delivery_cpu / max(1, stats["sent"] - before) * 1e6),
            "process_cpu_us_per_msg": round(second_cpu / max(1, stats["sent"] - before) * 1e6),
            "first_worker_cpu_s": round(first_cpu, 1),
            "fill_s": round(fill_s, 1),
        }
        if profile:
            from bench.profile import summarise

            print(summarise(raw, top=40))
        return result


def main(argv: list[str] | None = None) -> int:
    """Command line (also the fake's and the worker's entry points)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-fake"]:
        serve_fake(int(argv[1]), float(argv[2]))
        return 0
    if argv[:1] == ["--worker"]:
        run_worker(argv[1], argv[2], float(argv[3]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast", description=__doc__)
    parser.add_argument("--long", action="store_true", help="both databases")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--rows", type=int, help="recipients (default 50 000; short 10 000)")
    parser.add_argument("--cap", type=float, default=1000.0, help="the fake's messages/s")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the resuming worker, print the top frames"
    )
    args = parser.parse_args(argv)
    rows = args.rows or (50_000 if args.long else 10_000)
    db = args.db or ("both" if args.long else "sqlite")
    results = []
    for database in common.databases(db):
        kill_after = max(3.0, rows / args.cap * 0.4)
        results.append(run(database, rows, args.cap, kill_after, args.profile))
    common.report("broadcast", results, {"lease_s": LEASE_SECONDS})
    return 0


if __name__ == "__main__":
    sys.exit(main())
