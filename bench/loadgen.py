"""A small open-loop HTTP/1.1 load generator (asyncio streams, keep-alive connections).

wrk keeps a fixed number of requests in flight (closed loop); a burst of citizens is an
arrival schedule instead: request *i* is due at ``i / rate`` seconds whatever the server
is doing, and its latency counts from that moment (no coordinated omission). Used by
bench.burst and bench.memory, run in its own process on the load CPU.

``python -m bench.loadgen --url … --kind wechat|telegram --count N --rate R --connections C``
prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from bench.common import wechat_query


def wechat_request(host: str, path: str, i: int, run: str, text: str) -> bytes:
    """One signed WeChat text message from citizen ``i``."""
    body = (
        "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
        f"<FromUserName><![CDATA[o-load-{run}-{i}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{run}{i:09d}</MsgId></xml>"
    ).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def telegram_request(host: str, path: str, i: int, run: str, text: str) -> bytes:
    """One Telegram update from chat ``8_000_000 + i``."""
    chat = 8_000_000 + i
    update = {
        "update_id": int(run) * 10_000_000 + i,
        "message": {
            "message_id": i,
            "date": int(time.time()),
            "text": text,
            "chat": {"id": chat, "type": "private", "first_name": "b"},
            "from": {"id": chat, "is_bot": False, "first_name": "b", "language_code": "zh"},
        },
    }
    body = json.dumps(update, ensure_ascii=False).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"X-Telegram-Bot-Api-Secret-Token: bench-secret\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def run(
    url: str,
    kind: str,
    count: int,
    rate: float,
    connections: int,
    run_id: str,
    text: str,
) -> dict[str, Any]:
    """Send ``count`` requests due at ``rate`` per second (0: as fast as connections allow)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    make = wechat_request if kind == "wechat" else telegram_request

    def path() -> str:  # a signed query is accepted once: one per request
        return f"/wechat?{wechat_query('benchtoken')}" if kind == "wechat" else "/telegram"

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    late_answers = 0  # WeChat "success": the reply went to the outbox
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    start = time.perf_counter() + 0.2

    async def worker() -> None:
        nonlocal late_answers, errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                due = start + (i / rate if rate > 0 else 0.0)
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent_from = due if rate > 0 else time.perf_counter()
                writer.write(make(f"{host}:{port}", path(), i, run_id, text))
                try:
                    status, body = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                latencies.append(time.perf_counter() - sent_from)
                statuses[status] = statuses.get(status, 0) + 1
                if kind == "wechat" and body == b"success":
                    late_answers += 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0.0

    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        "statuses": statuses,
        "errors": errors,
        "late_answers": late_answers,
        "p50_s": round(pct(0.50), 4),
        "p99_s": round(pct(0.99), 4),
        "max_s": round(latencies[-1], 4) if latencies else 0.0,
        "over_4_5_s": sum(1 for x in latencies if x > 4.5),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: prints one JSON line with the result."""
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--kind", choices=["wechat", "telegram"], default="wechat")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0, help="requests per second; 0 = max")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--run", default=str(int(time.time()) % 10_000))
    parser.add_argument("--text", default="你好")
    args = parser.parse_args(argv)
    result = asyncio.run(
        run(args.url, args.kind, args.count, args.rate, args.connections, args.run, args.text)
    )
    print("BENCH_JSON " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
