"""`xinfang broadcast …` and `xinfang export …`: broadcasts and case exports from the shell.

Both act as a staff account (``--as LOGIN``): it must be active and its role must allow
the action; the audit log records that login. Delivery is the outbox worker's job (the
one in `xinfang serve`); `broadcast send` queues the messages and follows the progress.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot.cases.calendar import load_calendar
from bot.cases.clocks import load_clocks
from bot.channels import registry
from bot.clock import utc_now
from bot.settings import Settings
from bot.staff.access import AccessDenied, StaffMember
from bot.staff.broadcasts import Audience, BroadcastError, BroadcastProgress, BroadcastService
from bot.staff.export import FORMATS, CaseExporter
from bot.staff.labels import load_labels
from bot.storage import migrate
from bot.storage import staff as staff_store
from bot.storage.case_query import CaseFilter, Clock, Sort
from bot.storage.db import Database

QUIET_WARNING_SECONDS = 30.0


class CliError(Exception):
    """A refusal to print as ``xinfang <command>: <message>``."""


def add_cli(sub: Any) -> None:
    """Register `xinfang broadcast` and `xinfang export`."""
    bc = sub.add_parser("broadcast", help="send a message to many petitioners; follow, cancel")
    bc.set_defaults(func=_run_broadcast)
    cmds = bc.add_subparsers(dest="broadcast_command", required=True, metavar="ACTION")

    send = cmds.add_parser(
        "send",
        help="compose, preview the recipients per channel, confirm, send, follow the progress",
        description="Recipients are the contacts (one message each, however many cases) "
        "that can be reached and have not sent 退订 / unsubscribe. Filters combine: every "
        "option given must match; a repeated option matches any of its values.",
    )
    _as_login(send)
    text = send.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="the message")
    text.add_argument("--text-file", type=Path, help="read the message from this UTF-8 file")
    who = send.add_argument_group("audience (one of --case, --linked, --all, or filters)")
    who.add_argument("--case", metavar="NO", help="the petitioner of this case")
    who.add_argument("--linked", metavar="NO", help="the petitioners of this case's linked group")
    who.add_argument("--all", action="store_true", help="every citizen who has not unsubscribed")
    for name, what in (
        ("region", "region code (事发地)"),
        ("category", "category code (问题类别)"),
        ("status", "case status code"),
        ("channel", "channel the case came by"),
    ):
        who.add_argument(f"--{name}", action="append", default=[], help=f"{what}; repeatable")
    send.add_argument(
        "--at",
        metavar="'YYYY-MM-DD HH:MM'",
        help="queue it at this later time (office time zone) instead of now",
    )
    send.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    send.add_argument(
        "--no-wait", action="store_true", help="queue the broadcast and return at once"
    )
    send.add_argument(
        "--interval", type=float, default=1.0, help="seconds between progress updates"
    )

    status = cmds.add_parser("status", help="a broadcast's progress (sent / failed / pending)")
    status.add_argument("broadcast_id", type=int)
    status.add_argument("--wait", action="store_true", help="follow it until it is done")
    status.add_argument("--interval", type=float, default=1.0)

    cancel = cmds.add_parser("cancel", help="stop a broadcast (messages being sent finish)")
    cancel.add_argument("broadcast_id", type=int)
    _as_login(cancel)

    for verb, what in (
        ("approve", "approve a broadcast to everyone created by another account"),
        ("reject", "reject a broadcast awaiting approval (it is never sent)"),
    ):
        decide = cmds.add_parser(verb, help=what)
        decide.add_argument("broadcast_id", type=int)
        _as_login(decide)

    listing = cmds.add_parser("list", help="recent broadcasts")
    listing.add_argument("--limit", type=int, default=20)

    ex = sub.add_parser(
        "export",
        help="export the filtered case list to CSV or XLSX",
        description="Writes the cases the account may see that match the filters. Names "
        "and phones are masked for roles without access to personal data; the "
        "respondent (被反映对象) is never exported.",
    )
    _as_login(ex)
    ex.add_argument("--format", choices=FORMATS, help="default: from the file name's suffix")
    ex.add_argument("--out", type=Path, required=True, help="the file to write")
    ex.add_argument("--lang", choices=["zh", "en"], help="headers and names (default: account)")
    for name, what in (
        ("status", "status code"),
        ("category", "category code"),
        ("region", "region code"),
        ("department", "department code (lead or co-handling)"),
        ("channel", "channel"),
        ("flag", "flag code (every one given must be set)"),
    ):
        ex.add_argument(f"--{name}", action="append", default=[], help=f"{what}; repeatable")
    ex.add_argument("--deadline", choices=["overdue", "near_due"], help="open cases only")
    ex.add_argument(
        "--from", dest="date_from", type=date.fromisoformat, help="submitted on or after"
    )
    ex.add_argument("--to", dest="date_to", type=date.fromisoformat, help="submitted on or before")
    ex.add_argument("-q", "--query", default="", help="full-text search or a tracking number")
    ex.set_defaults(func=_run_export)


def _as_login(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--as",
        dest="login",
        required=True,
        metavar="LOGIN",
        help="the staff account to act as (recorded in the audit log)",
    )


def enabled_channels(settings: Settings) -> set[str]:
    """The channels `xinfang serve` delivers on with these settings."""
    return registry.enabled_names(settings)


async def member_for(db: Database, login: str) -> StaffMember:
    """The active staff account ``login`` (CliError otherwise)."""
    async with db.read() as conn:
        row = await staff_store.by_login(conn, login.strip().lower())
    if row is None or not row.active:
        raise CliError(f"no active staff account {login!r}")
    return row.member()


def _with_db(settings: Settings, body: Callable[[Database], Awaitable[int]], command: str) -> int:
    async def main() -> int:
        db = Database(settings.effective_database_url)
        try:
            await migrate.ensure_schema(db, auto_upgrade=settings.auto_migrate)
            return await body(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except (CliError, BroadcastError, AccessDenied, OSError) as exc:
        print(f"xinfang {command}: {exc}", file=sys.stderr)
        return 1


# --- broadcast ----------------------------------------------------------------------------


def _audience(args: argparse.Namespace) -> Audience:
    filters = bool(args.region or args.category or args.status or args.channel)
    chosen = [bool(args.case), bool(args.linked), bool(args.all), filters]
    if sum(chosen) != 1:
        raise CliError("choose one audience: --case, --linked, --all, or filters")
    if args.case:
        return Audience("case", tracking_no=args.case)
    if args.linked:
        return Audience("linked", tracking_no=args.linked)
    if args.all:
        return Audience("all")
    return Audience(
        "filter",
        regions=tuple(args.region),
        categories=tuple(args.category),
        statuses=tuple(args.status),
        channels=tuple(args.channel),
    )


def _run_broadcast(settings: Settings, args: argparse.Namespace) -> int:
    tz = ZoneInfo(settings.timezone)

    async def body(db: Database) -> int:
        service = BroadcastService(
            db,
            channels=enabled_channels(settings),
            approval_for_all=settings.broadcast_all_needs_approval,
        )
        command = args.broadcast_command
        if command == "send":
            return await _send(service, db, args, tz)
        if command == "status":
            progress = await service.progress(args.broadcast_id)
            if args.wait:
                progress = await follow(service, progress.id, args.interval, sys.stdout)
            else:
                print(describe(progress, tz))
            return 0
        if command in ("cancel", "approve", "reject"):
            member = await member_for(db, args.login)
            act = getattr(service, command)
            print(describe(await act(args.broadcast_id, member), tz))
            return 0
        rows = await service.recent(args.limit)
        if not rows:
            print("no broadcasts yet")
        for row in rows:
            print(describe(row, tz))
        return 0

    return _with_db(settings, body, "broadcast")


def _send_at(raw: str | None, tz: ZoneInfo) -> datetime | None:
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise CliError(f"--at {raw!r}: say YYYY-MM-DD HH:MM") from None
    return when.replace(tzinfo=tz) if when.tzinfo is None else when


async def _send(
    service: BroadcastService, db: Database, args: argparse.Namespace, tz: ZoneInfo
) -> int:
    member = await member_for(db, args.login)
    text = args.text if args.text is not None else args.text_file.read_text(encoding="utf-8")
    audience = _audience(args)
    send_at = _send_at(args.at, tz)
    counts = await service.preview(audience, member)
    left_out = await service.left_out(audience, member)
    total = sum(counts.values())
    print(f"audience: {audience.describe()}")
    for channel, n in counts.items():
        print(f"  {channel:<10} {n:>8}")
    print(f"  {'total':<10} {total:>8}")
    print("left out (matching, but no message):")
    for reason, n in left_out.items():
        print(f"  {reason:<13} {n:>8}")
    if total == 0:
        raise CliError("nobody to send to (no reachable contact that has not unsubscribed)")
    approval = service.needs_approval(audience)
    if not args.yes:
        verb = "submit for approval" if approval else "send"
        answer = await asyncio.to_thread(_ask, f"{verb} this message to {total} contacts? [y/N] ")
        if answer not in ("y", "yes"):
            print("not sent")
            return 1
    broadcast_id = await service.start(audience, text, member, send_at=send_at)
    if approval:
        print(
            f"broadcast #{broadcast_id} awaits the approval of another supervisor or admin: "
            f"`xinfang broadcast approve {broadcast_id} --as LOGIN`"
        )
        return 0
    if send_at is not None:
        local = send_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        print(f"broadcast #{broadcast_id} scheduled for {local} ({total} contacts now)")
        return 0
    print(f"broadcast #{broadcast_id} queued for {total} contacts")
    if args.no_wait:
        return 0
    progress = await follow(service, broadcast_id, args.interval, sys.stdout, cancel_as=member)
    return 0 if progress.status in ("done", "cancelled", "sending") else 1


def _ask(prompt: str) -> str:
    try:
        return input(prompt).strip().lower()
    except EOFError:
        return ""


def describe(p: BroadcastProgress, tz: ZoneInfo | None = None) -> str:
    """One line about a broadcast (times in the office's time zone)."""
    when = p.created_at.astimezone(tz or ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    preview = p.text.replace("\n", " ")
    preview = preview[:30] + ("…" if len(preview) > 30 else "")
    held = ""
    if p.scheduled_at is not None and p.status in ("awaiting", "scheduled"):
        at = p.scheduled_at.astimezone(tz or ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
        held = f" for {at}"
    verdict = "rejected" if p.status == "rejected" else "approved"
    decided = f" ({verdict} by {p.decided_by})" if p.decided_by else ""
    return (
        f"#{p.id} {p.status:<9} {when} by {p.created_by}{held}{decided}: sent {p.sent}, "
        f"failed {p.failed}, pending {p.pending}, cancelled {p.cancelled} of {p.total} — "
        f"{preview}"
    )


def progress_bar(p: BroadcastProgress, width: int = 30) -> str:
    """``[#####-----]  50% sent 5 failed 0 pending 5`` for one broadcast."""
    done = p.settled
    filled = int(width * done / p.total) if p.total else width
    percent = int(100 * done / p.total) if p.total else 100
    return (
        f"[{'#' * filled}{'-' * (width - filled)}] {percent:>3}%  "
        f"sent {p.sent}  failed {p.failed}  pending {p.pending}"
        + (f"  cancelled {p.cancelled}" if p.cancelled else "")
    )


async def follow(
    service: BroadcastService,
    broadcast_id: int,
    interval: float,
    out: TextIO,
    *,
    cancel_as: StaffMember | None = None,
) -> BroadcastProgress:
    """Redraw the progress bar until the broadcast is done or cancelled.

    Ctrl-C asks whether to cancel the broadcast (when ``cancel_as`` may) or to stop
    watching; the broadcast goes on being delivered by the server either way but the first.
    """
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
        handled = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
        handled = False
    tty = out.isatty()
    last_settled, quiet_since = -1, loop.time()
    try:
        while True:
            progress = await service.progress(broadcast_id)
            line = progress_bar(progress)
            if tty:
                out.write("\r" + line + "\033[K")
            elif progress.settled != last_settled or progress.finished:
                out.write(line + "\n")
            out.flush()
            if progress.finished:
                if tty:
                    out.write("\n")
                out.write(f"broadcast #{broadcast_id} {progress.status}\n")
                return progress
            if progress.settled != last_settled:
                last_settled, quiet_since = progress.settled, loop.time()
            elif loop.time() - quiet_since > QUIET_WARNING_SECONDS:
                out.write("\nnothing delivered for a while: is `xinfang serve` running?\n")
                quiet_since = loop.time()
            try:
                await asyncio.wait_for(interrupted.wait(), timeout=interval)
            except TimeoutError:
                continue
            interrupted.clear()
            if cancel_as is not None:
                question = f"\ncancel broadcast #{broadcast_id}? [y = cancel / N = keep sending] "
                if await asyncio.to_thread(_ask, question) in ("y", "yes"):
                    progress = await service.cancel(broadcast_id, cancel_as)
                    out.write(progress_bar(progress) + "\n")
                    out.write(f"broadcast #{broadcast_id} cancelled\n")
                    return progress
            out.write(
                f"\nbroadcast #{broadcast_id} keeps sending; follow it with "
                f"`xinfang broadcast status {broadcast_id} --wait`\n"
            )
            return progress
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)


# --- export -------------------------------------------------------------------------------


def _run_export(settings: Settings, args: argparse.Namespace) -> int:
    fmt = args.format or args.out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        print("xinfang export: say --format csv or xlsx (or name the file .csv / .xlsx)")
        return 2
    tz = ZoneInfo(settings.timezone)

    async def body(db: Database) -> int:
        member = await member_for(db, args.login)
        flt = CaseFilter(
            statuses=tuple(args.status),
            categories=tuple(args.category),
            regions=tuple(args.region),
            departments=tuple(args.department),
            channels=tuple(args.channel),
            flags=tuple(args.flag),
            deadline=args.deadline or "",
            submitted_from=_day_start(args.date_from, tz),
            submitted_to=_day_start(args.date_to + timedelta(days=1), tz) if args.date_to else None,
            q=args.query,
        )
        exporter = CaseExporter(db, load_labels(settings.config_dir), timezone=settings.timezone)
        clock = near_due_clock(settings) if args.deadline else None
        partial = args.out.with_name(args.out.name + ".part")
        try:
            # the CLI's loop runs only this command: blocking file writes are fine here
            with open(partial, "wb") as handle:  # noqa: ASYNC230
                count = await exporter.write(
                    flt,
                    member,
                    fmt,
                    handle,
                    lang=args.lang,
                    sort=Sort("submitted_at", descending=True),
                    deadline_clock=clock,
                )
            partial.replace(args.out)  # no half-written file under the real name
        finally:
            partial.unlink(missing_ok=True)
        print(f"{count} cases written to {args.out}")
        return 0

    return _with_db(settings, body, "export")


def _day_start(day: date | None, tz: ZoneInfo) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=tz) if day else None


def near_due_clock(settings: Settings, now: datetime | None = None) -> Clock:
    """The moments the overdue / near-due filters compare with (config/lifecycle.yaml)."""
    tz = ZoneInfo(settings.timezone)
    current = now or utc_now()
    near = load_clocks(settings.config_dir).near_due_days
    calendar = load_calendar(settings.config_dir)
    last = calendar.add_days(current.astimezone(tz).date(), near, working=True)
    return Clock(now=current, near_due_until=datetime.combine(last, time.max, tzinfo=tz))
