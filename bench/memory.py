"""Memory (target 6): server RSS with 100 000 open drafts.

Distinct citizens each send "新建" (start a petition) over the WeChat webhook, leaving one
open draft per citizen; the server's resident set size is read from /proc before and
after. Baseline ratio: the bare aiohttp handler's RSS after serving the same requests.

``python -m bench.memory [--long] [--db sqlite|postgresql|both] [--drafts N]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from typing import Any

from bench import common
from bench.webhook import WECHAT

MB = 1024 * 1024


async def _drafts(url: str) -> int:
    from sqlalchemy import func, select

    from bot.storage.db import Database
    from bot.storage.tables import conversations

    db = Database(url)
    try:
        async with db.read() as conn:
            q = select(func.count()).where(conversations.c.state.is_not(None))
            return int((await conn.execute(q)).scalar_one())
    finally:
        await db.dispose()


def run(database: str, drafts: int) -> dict[str, Any]:
    """Open ``drafts`` drafts through the webhook and read the server's RSS."""
    with common.workdir() as tmp, ExitStack() as stack:
        if database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}"
        else:
            url = stack.enter_context(common.pg_database())
        bare = common.bare_server(tmp)
        stack.callback(bare.stop)
        common.loadgen(bare.url, "wechat", drafts, connections=50, text="新建")
        bare_rss = bare.rss_bytes()
        bare.stop()
        server = common.xinfang_server(tmp, url, **WECHAT.env)
        stack.callback(server.stop)
        idle_rss = server.rss_bytes()
        res = common.loadgen(server.url, "wechat", drafts, connections=50, text="新建")
        rss = server.rss_bytes()
        server.stop()
        stored = asyncio.run(_drafts(url))
        return {
            "benchmark": "memory",
            "db": database,
            "drafts": stored,
            "requests": res["requests"],
            "idle_rss_mb": round(idle_rss / MB, 1),
            "rss_mb": round(rss / MB, 1),
            "per_1000_drafts_kb": round((rss - idle_rss) / 1024 / max(1, stored) * 1000, 1),
            "bare_rss_mb": round(bare_rss / MB, 1),
            "ratio_to_bare": round(rss / bare_rss, 2),
            "met": rss <= 200 * MB,
        }


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--long", action="store_true", help="100 000 drafts, both databases")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--drafts", type=int)
    args = parser.parse_args(argv)
    drafts = args.drafts or (100_000 if args.long else 20_000)
    db = args.db or ("both" if args.long else "sqlite")
    rows = []
    for database in common.databases(db):
        rows.append(run(database, drafts))
    common.report("memory", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
