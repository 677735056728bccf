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
from bench.webhook import TELEGRAM, WECHAT


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
        common.wrk(server.url + subject.path(), subject.script, wrk_args, seconds=2)
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
        )
        recorder.wait()
    print(f"{args.webhook} on {args.db}: {result['rps']:.0f} req/s while sampled (py-spy slows it)")
    print(summarise(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
