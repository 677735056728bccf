"""Burst (target 3): 20 000 citizens each send one WeChat message within a few seconds.

Every request is due on an open-loop schedule (``count / window`` per second) and its
latency counts from that moment. The target: no answer later than 4.5 s (WeChat gives up
at 5 s and retries); a message intake could not finish in time is answered "success"
and its reply goes out through the outbox, which the result counts as ``late_answers``.
The baseline ratio is the bare aiohttp handler's p99 under the same schedule.

``python -m bench.burst [--long] [--db sqlite|postgresql|both] [--count N] [--window S]``
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from typing import Any

from bench import common
from bench.webhook import WECHAT


def run(database: str, count: int, window: float, connections: int) -> dict[str, Any]:
    """One burst against `xinfang serve` and the same burst against the bare handler."""
    with common.workdir() as tmp, ExitStack() as stack:
        if database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}"
        else:
            url = stack.enter_context(common.pg_database())
        rate = count / window
        bare = common.bare_server(tmp)
        stack.callback(bare.stop)
        base = common.loadgen(bare.url, "wechat", count, rate=rate, connections=connections)
        bare.stop()
        server = common.xinfang_server(tmp, url, **WECHAT.env)
        stack.callback(server.stop)
        res = common.loadgen(server.url, "wechat", count, rate=rate, connections=connections)
        return {
            "benchmark": "burst",
            "db": database,
            "citizens": count,
            "offered_rps": round(rate),
            "achieved_rps": res["rps"],
            "p50_s": res["p50_s"],
            "p99_s": res["p99_s"],
            "max_s": res["max_s"],
            "over_4_5_s": res["over_4_5_s"],
            "late_answers": res["late_answers"],
            "non_200": sum(n for s, n in res["statuses"].items() if s != "200"),
            "errors": res["errors"],
            "bare_p99_s": base["p99_s"],
            "met": res["over_4_5_s"] == 0 and res["errors"] == 0,
        }


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__)
    parser.add_argument("--long", action="store_true", help="both databases, 3 bursts each")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--window", type=float, default=4.0, help="seconds the burst spans")
    parser.add_argument("--connections", type=int, default=500)
    args = parser.parse_args(argv)
    db = args.db or ("both" if args.long else "sqlite")
    rows = []
    for database in common.databases(db):
        for _ in range(3 if args.long else 1):
            rows.append(run(database, args.count, args.window, args.connections))
    common.report("burst", rows, {"window_s": args.window, "connections": args.connections})
    return 0


if __name__ == "__main__":
    sys.exit(main())
