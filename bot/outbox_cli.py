"""`xinfang outbox …`: failed and stuck deliveries for operators — list, retry, cancel.

Addresses are shown as the same masked pseudonyms the logs use, so a row can be matched
with its log lines without printing a citizen's platform id.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.deliveries import Deliveries, UnknownCase
from bot.domain.tracking import format_tracking_no
from bot.logging import mask_id, mask_text
from bot.settings import Settings
from bot.storage import migrate
from bot.storage.db import Database
from bot.storage.outbox import PROBLEMS, Delivery, StaffOutcome

Handler = Callable[[Deliveries, argparse.Namespace, ZoneInfo], Awaitable[str]]
ERROR_CHARS = 80
REFUSED = ": not changed"


def add_cli(sub: Any) -> None:
    """Register `xinfang outbox` and its subcommands on the main parser's subparsers."""
    box = sub.add_parser("outbox", help="failed and stuck deliveries: list, retry, cancel")
    box.add_argument(
        "--actor", default="", help="who acts, written to the log (default staff:<login name>)"
    )
    box.add_argument(
        "--stuck-after",
        type=int,
        default=15,
        metavar="MINUTES",
        help="a retried message overdue by more than this counts as stuck (default 15)",
    )
    box.set_defaults(func=_run)
    cmds = box.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")

    ls = cmds.add_parser("list", help="failed and stuck deliveries, newest first")
    ls.add_argument("--status", choices=PROBLEMS, help="only failed, or only stuck")
    ls.add_argument("--kind", help="only this kind of message (reply, push, followup, …)")
    ls.add_argument("--channel", help="only this channel (wechat, telegram, web, …)")
    ls.add_argument("--case", default="", metavar="TRACKING_NO", help="only this case's")
    ls.add_argument("--limit", type=int, default=50, help="rows per page (default 50)")
    ls.add_argument("--offset", type=int, default=0, help="skip this many rows (paging)")
    ls.set_defaults(handler=_list)

    retry = cmds.add_parser("retry", help="send failed or stuck messages again (due now)")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID", help="outbox row ids")
    retry.add_argument("--all-failed", action="store_true", help="every failed message")
    retry.add_argument("--channel", help="with --all-failed: only this channel")
    retry.set_defaults(handler=_retry)

    cancel = cmds.add_parser("cancel", help="never send these messages (pending or failed)")
    cancel.add_argument("ids", nargs="+", type=int, metavar="ID", help="outbox row ids")
    cancel.set_defaults(handler=_cancel)


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if not args.actor:
        args.actor = f"staff:{getpass.getuser()}"
    if args.outbox_command == "retry" and bool(args.ids) == bool(args.all_failed):
        print("xinfang outbox retry: give row ids or --all-failed (not both)", file=sys.stderr)
        return 2
    if args.stuck_after < 1:
        print("xinfang outbox: --stuck-after must be at least 1 minute", file=sys.stderr)
        return 2

    async def main() -> str:
        db = Database(settings.effective_database_url)
        try:
            await migrate.ensure_schema(db, auto_upgrade=False)
            desk = Deliveries(db, stuck_after=timedelta(minutes=args.stuck_after))
            handler: Handler = args.handler
            return await handler(desk, args, ZoneInfo(settings.timezone))
        finally:
            await db.dispose()

    try:
        output = asyncio.run(main())
    except UnknownCase as exc:
        print(f"xinfang outbox {args.outbox_command}: {exc}", file=sys.stderr)
        return 1
    print(output)
    # a retry or cancel that left some rows unchanged is reported, and fails the command
    return 1 if REFUSED in output else 0


async def _list(desk: Deliveries, args: argparse.Namespace, tz: ZoneInfo) -> str:
    page = await desk.problems(
        problem=args.status,
        kind=args.kind,
        channel=args.channel,
        tracking_no=args.case,
        limit=args.limit,
        offset=args.offset,
    )
    counts = await desk.counts()
    lines = [_summary(counts)]
    if not page.items:
        lines.append("no delivery matches")
        return "\n".join(lines)
    shown_to = args.offset + len(page.items)
    lines.append(f"showing {args.offset + 1}-{shown_to} of {page.total}")
    lines.extend(_line(item, tz) for item in page.items)
    return "\n".join(lines)


async def _retry(desk: Deliveries, args: argparse.Namespace, _tz: ZoneInfo) -> str:
    if args.all_failed:
        done, skipped = await desk.retry_all_failed(actor=args.actor, channel=args.channel)
        text = f"{len(done)} failed message(s) queued again"
        if skipped:
            text += f"; {skipped} left failed: the citizen blocked the bot or unsubscribed"
        return text
    return _outcomes(await desk.retry(args.ids, actor=args.actor), "queued again")


async def _cancel(desk: Deliveries, args: argparse.Namespace, _tz: ZoneInfo) -> str:
    return _outcomes(await desk.cancel(args.ids, actor=args.actor), "cancelled")


def _summary(counts: dict[tuple[str, str], int]) -> str:
    parts = []
    for problem in PROBLEMS:
        per_channel = {ch: n for (ch, p), n in sorted(counts.items()) if p == problem}
        detail = ", ".join(f"{ch} {n}" for ch, n in per_channel.items())
        parts.append(f"{problem} {sum(per_channel.values())}" + (f" ({detail})" if detail else ""))
    return "; ".join(parts)


def _line(d: Delivery, tz: ZoneInfo) -> str:
    def local(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "-"

    when = d.lease_until if d.status == "sending" else d.next_attempt_at
    fields = [
        f"#{d.id}",
        f"{d.problem or d.status:<6}",
        f"{d.channel}:{mask_id(d.address)}",
        d.push or d.kind,
        format_tracking_no(d.tracking_no) if d.tracking_no else "-",
        f"attempts {d.attempts}",
        f"created {local(d.created_at)}",
        f"{'lease' if d.status == 'sending' else 'due'} {local(when)}",
    ]
    if not d.reachable:
        fields.append("(citizen unreachable)")
    error = mask_text(d.last_error)
    if error:
        fields.append(error[:ERROR_CHARS] + ("…" if len(error) > ERROR_CHARS else ""))
    return "  ".join(fields)


def _outcomes(outcomes: list[StaffOutcome], verb: str) -> str:
    lines = []
    for o in outcomes:
        if o.done:
            lines.append(f"#{o.id}: {verb}")
        elif not o.status:
            lines.append(f"#{o.id}{REFUSED}, no such message")
        else:
            lines.append(f"#{o.id}{REFUSED}, it is {o.status}")
    return "\n".join(lines)
