"""Where the time goes: py-spy samples `xinfang serve` while wrk drives a webhook.

``python -m bench.profile wechat|telegram [--db sqlite|postgresql] [--seconds 10]`` prints
the functions with the most samples (own time, and time including callees) and leaves
the collapsed stacks in bench/results/ (speedscope.app and flamegraph.pl read them).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from bench import common
from bench.webhook import TELEGRAM, WECHAT, WECHAT_TOKEN


def summarise(raw: Path, top: int = 30) -> str:
    """Own and inclusive sample shares per frame from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    lines += ["", "including callees:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


# where the main thread's own time goes, by the file of the frame that was running
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("SQLite executing statements", ("bot/storage/sqlite_inline.py", "aiosqlite/")),
    ("SQLAlchemy (parameters, execution, rows)", ("sqlalchemy/",)),
    ("aiohttp and the event loop (HTTP, sockets)", ("aiohttp/", "asyncio/", "selectors.py")),
    ("WeChat: signature, XML, passive reply", ("xml/", "defusedxml/", "wechatpy/", "channels/")),
    ("dialog engine", ("bot/dialogs/", "bot/cases/")),
    ("intake and repositories", ("bot/intake.py", "bot/storage/", "bot/keyed_locks.py")),
    ("JSON", ("json/",)),
]


def layers(raw: Path) -> str:
    """The main thread's samples by layer (own time of the running frame)."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack.startswith("thread") or "MainThread" not in stack.split(";", 1)[0]:
            continue  # the drivers' threads mostly wait (py-spy counts a blocked get)
        leaf = stack.rsplit(";", 1)[-1]
        layer = next((name for name, keys in LAYERS if any(k in leaf for k in keys)), "other")
        counts[layer] += int(count)
    total = sum(counts.values()) or 1
    lines = [f"main thread, {total} samples, by layer:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in counts.most_common()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Profile one webhook under load."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("webhook", choices=["wechat", "telegram"])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--users", type=int, default=5000)
    args = parser.parse_args(argv)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    subject = WECHAT if args.webhook == "wechat" else TELEGRAM
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    raw = common.RESULTS / f"profile-{args.webhook}-{args.db}.txt"
    with common.workdir() as tmp, ExitStack() as stack:
        if args.db == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}"
        else:
            url = stack.enter_context(common.pg_database())
        server = common.xinfang_server(tmp, url, **subject.env)
        stack.callback(server.stop)
        run = common.run_id()
        wrk_args = [subject.path(), str(args.users), f"{run}10", "你好"]
        token = WECHAT_TOKEN if subject.channel == "wechat" else ""
        common.wrk(
            server.url + subject.path(), subject.script, wrk_args, seconds=2, wechat_token=token
        )
        spy = [
            *common.pinned(common.LOAD_CPU),
            pyspy,
            "record",
            "--pid",
            str(server.pid()),
            "--duration",
            str(args.seconds),
            "--rate",
            "200",
            "--threads",
        ]
        recorder = subprocess.Popen([*spy, "--format", "raw", "--output", str(raw)])
        wrk_args[2] = f"{run}11"
        result = common.wrk(
            server.url + subject.path(),
            subject.script,
            wrk_args,
            connections=args.connections,
            seconds=args.seconds + 1,
            wechat_token=token,
        )
        recorder.wait()
    print(f"{args.webhook} on {args.db}: {result['rps']:.0f} req/s while sampled (py-spy slows it)")
    print(layers(raw))
    print()
    print(summarise(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
