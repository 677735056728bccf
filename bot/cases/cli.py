"""`xinfang case …`: the staff lifecycle commands, until the console exists.

Each command is one lifecycle action through :class:`bot.cases.service.LifecycleService`,
so it is checked against the state machine and writes the event and the citizen's push
in the same transaction as the change.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bot.cases.flags import STAFF_SETTABLE
from bot.cases.lifecycle import Change
from bot.cases.register_cli import add_register, refused_text
from bot.cases.service import LEGAL_STATUSES, CaseDetail, LifecycleService, load_case_config
from bot.cases.staff_registration import InvalidPetition
from bot.dialogs.texts import load_texts
from bot.domain.statuses import OUTCOMES, LifecycleError
from bot.domain.tracking import format_tracking_no
from bot.settings import Settings
from bot.storage import migrate
from bot.storage.db import Database

Handler = Callable[[LifecycleService, argparse.Namespace], Awaitable[str]]


def add_cli(sub: Any) -> None:
    """Register `xinfang case` and its subcommands on the main parser's subparsers."""
    case = sub.add_parser("case", help="staff lifecycle actions on cases (accept, assign, …)")
    case.add_argument(
        "--actor",
        default="",
        help="who acts, recorded on the case timeline (default staff:<login name>)",
    )
    case.set_defaults(func=_run)
    cmds = case.add_subparsers(dest="case_command", required=True, metavar="ACTION")

    def command(name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = cmds.add_parser(name, help=help_text)
        if name != "due":
            p.add_argument("number", help="tracking number, e.g. XF261121-048273-3")
        if name not in ("show", "due", "note", "edit"):
            p.add_argument(
                "--note",
                default="",
                help="internal note (staff only, never told to the petitioner)",
            )
        if name not in ("show", "due", "note", "edit", "flag", "reply"):
            p.add_argument(
                "--message",
                default="",
                help="告知内容: told to the petitioner with the notice and shown in their status",
            )
        p.set_defaults(handler=handler)
        return p

    command("show", "a case with its timeline, links and deadline", _show)
    command("accept", "受理: accept the case", _action("accept"))
    p = command("reject", "不予受理: refuse, naming the proper channel", _reject)
    p.add_argument("--reason", required=True, help="why it is not accepted")
    p.add_argument("--channel", required=True, help="where the petitioner should go instead")
    p = command("transfer", "转送: transfer to the competent organ", _transfer)
    p.add_argument("--to", required=True, help="the organ the case goes to")
    p = command("assign", "交办: assign to a department", _assign)
    p.add_argument("--department", default="", help="department code (default: routed one)")
    p.add_argument("--co", nargs="*", default=None, help="co-handling department codes")
    command("start", "办理中: handling started", _action("start"))
    p = command("extend", "延期: extend the answer deadline", _extend)
    p.add_argument("--days", type=int, required=True, help="extension in days")
    p.add_argument("--reason", required=True, help="reason, told to the petitioner")
    for name, help_text in (
        ("answer", "答复: the written opinion"),
        ("decide", "复查/复核 decision, whichever the case waits for"),
    ):
        p = command(name, help_text, _answer if name == "answer" else _decide)
        p.add_argument("--outcome", required=True, choices=OUTCOMES)
        text = p.add_mutually_exclusive_group(required=True)
        text.add_argument("--text", help="the opinion text")
        text.add_argument("--text-file", help="read the opinion text from this UTF-8 file")
    command("close", "办结/终结: close the case", _action("close"))
    p = command("note", "add an internal note (never told to the petitioner)", _note)
    p.add_argument("text", help="the note")
    p = command("reply", "tell the petitioner something through their channel", _reply)
    p.add_argument("text", help="the message (pushed, and shown in their status)")
    p = command("flag", "set or clear a staff flag (urgent, major_difficult, …)", _flag)
    p.add_argument("flag", choices=sorted(STAFF_SETTABLE), help="the flag")
    p.add_argument("--off", action="store_true", help="clear the flag instead of setting it")
    p = command("edit", "correct people, legal proceedings or earlier reports", _edit)
    p.add_argument("--people", type=int, help="number of people concerned")
    p.add_argument("--legal-status", choices=LEGAL_STATUSES, help="legal proceedings")
    p.add_argument("--reported-before", choices=("yes", "no"), help="reported before")
    p.add_argument("--note", default="", help="why (internal, on the timeline)")
    p = command("link", "handle a case together with an earlier one", _link)
    p.add_argument("primary", help="tracking number of the earlier (primary) case")
    add_register(cmds)
    p = command("due", "overdue and near-due cases", _due)
    p.add_argument("--department", default="", help="only this department")
    p.add_argument("--all", action="store_true", help="also cases that are on time")


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if not args.actor:
        args.actor = f"staff:{getpass.getuser()}"
    args.settings = settings  # `register` reads the form and stores files

    async def main() -> str:
        db = Database(settings.effective_database_url)
        try:
            await migrate.ensure_schema(db, auto_upgrade=False)
            service = LifecycleService(
                db,
                load_case_config(settings.config_dir),
                load_texts(settings.config_dir),
                timezone=settings.timezone,
                links=settings.case_links,
            )
            handler: Handler = args.handler
            return await handler(service, args)
        finally:
            await db.dispose()

    try:
        print(asyncio.run(main()))
    except LifecycleError as exc:
        print(f"xinfang case {args.case_command}: {exc}", file=sys.stderr)
        return 1
    except InvalidPetition as exc:
        print(refused_text(exc, load_texts(settings.config_dir)), file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:  # unreadable --text-file, invalid lifecycle config
        print(f"xinfang case {args.case_command}: {exc}", file=sys.stderr)
        return 2
    return 0


def _action(name: str) -> Handler:
    async def handler(svc: LifecycleService, args: argparse.Namespace) -> str:
        method: Callable[..., Awaitable[Change]] = getattr(svc, name)
        change = await method(args.number, actor=args.actor, **_texts(args))
        return _changed(svc, change)

    return handler


async def _reject(svc: LifecycleService, args: argparse.Namespace) -> str:
    change = await svc.reject(
        args.number, actor=args.actor, reason=args.reason, channel=args.channel, **_texts(args)
    )
    return _changed(svc, change)


async def _transfer(svc: LifecycleService, args: argparse.Namespace) -> str:
    change = await svc.transfer(args.number, actor=args.actor, to=args.to, **_texts(args))
    return _changed(svc, change)


async def _assign(svc: LifecycleService, args: argparse.Namespace) -> str:
    change = await svc.assign(
        args.number,
        actor=args.actor,
        department=args.department,
        co_departments=args.co,
        **_texts(args),
    )
    return _changed(svc, change)


async def _extend(svc: LifecycleService, args: argparse.Namespace) -> str:
    change = await svc.extend(
        args.number, actor=args.actor, reason=args.reason, days=args.days, **_texts(args)
    )
    return _changed(svc, change)


def _text(args: argparse.Namespace) -> str:
    if args.text_file:
        with open(args.text_file, encoding="utf-8") as f:
            return f.read()
    return str(args.text)


async def _answer(svc: LifecycleService, args: argparse.Namespace) -> str:
    change = await svc.answer(
        args.number, actor=args.actor, text=_text(args), outcome=args.outcome, **_texts(args)
    )
    return _changed(svc, change)


async def _decide(svc: LifecycleService, args: argparse.Namespace) -> str:
    change = await svc.decide_review(
        args.number, actor=args.actor, text=_text(args), outcome=args.outcome, **_texts(args)
    )
    return _changed(svc, change)


def _texts(args: argparse.Namespace) -> dict[str, str]:
    """An action's two texts: told to the petitioner, and the internal note."""
    return {"message": args.message, "note": args.note}


async def _note(svc: LifecycleService, args: argparse.Namespace) -> str:
    await svc.note(args.number, actor=args.actor, text=args.text)
    return f"{format_tracking_no((await svc.get(args.number)).tracking_no)}: internal note added"


async def _reply(svc: LifecycleService, args: argparse.Namespace) -> str:
    change = await svc.reply(args.number, actor=args.actor, text=args.text, note=args.note)
    return _changed(svc, change)


async def _flag(svc: LifecycleService, args: argparse.Namespace) -> str:
    flags = await svc.set_flag(
        args.number, args.flag, actor=args.actor, on=not args.off, note=args.note
    )
    number = format_tracking_no((await svc.get(args.number)).tracking_no)
    return f"{number}: flags {', '.join(flags) or '(none)'}"


async def _edit(svc: LifecycleService, args: argparse.Namespace) -> str:
    flags = await svc.update_details(
        args.number,
        actor=args.actor,
        note=args.note,
        people_count=args.people,
        legal_status=args.legal_status,
        reported_before=args.reported_before,
    )
    number = format_tracking_no((await svc.get(args.number)).tracking_no)
    return f"{number}: corrected; flags {', '.join(flags) or '(none)'}"


async def _link(svc: LifecycleService, args: argparse.Namespace) -> str:
    change = await svc.link(args.number, args.primary, actor=args.actor, **_texts(args))
    return _changed(svc, change)


async def _show(svc: LifecycleService, args: argparse.Namespace) -> str:
    return _detail(svc, await svc.show(args.number))


async def _due(svc: LifecycleService, args: argparse.Namespace) -> str:
    rows = await svc.list_due(department=args.department, include_ok=args.all)
    for year in svc.calendar_gaps():
        print(
            f"warning: config/calendar has no {year} schedule; working days in {year} are "
            "counted Monday to Friday until the office adds it",
            file=sys.stderr,
        )
    if not rows:
        return "no case is overdue or near due"
    lines = []
    for item in rows:
        due = item.due.astimezone(svc.tz).strftime("%Y-%m-%d")
        lines.append(
            f"{item.state:<8}  {due}  {format_tracking_no(item.case.tracking_no)}  "
            f"{item.case.status:<17}  {item.case.department or '-'}"
        )
    return "\n".join(lines)


def _changed(svc: LifecycleService, change: Change) -> str:
    case = change.case
    line = f"{format_tracking_no(case.tracking_no)}: {change.action} -> {case.status}"
    if case.due_at is not None:
        line += f" (due {case.due_at.astimezone(svc.tz).date().isoformat()})"
    line += f"; {change.pushes} push(es) queued"
    others = [n for n in change.group if n != case.tracking_no]
    if others:
        line += "; also " + ", ".join(format_tracking_no(n) for n in others)
    return line


def _detail(svc: LifecycleService, detail: CaseDetail) -> str:
    case = detail.case

    def local(value: Any) -> str:
        return value.astimezone(svc.tz).strftime("%Y-%m-%d %H:%M") if value else "-"

    lines = [
        f"case        {format_tracking_no(case.tracking_no)}  ({case.channel}, {case.lang})",
        f"status      {case.status}" + (f"  [{detail.deadline}]" if detail.deadline else ""),
        f"submitted   {local(case.submitted_at)}",
        f"due         {local(case.due_at)}",
        f"answer due  {local(case.answer_due_at)}  extensions {case.extensions}",
        f"region      {case.region}   category {case.category}",
        f"department  {case.department or '-'}"
        + (f"  co {', '.join(case.co_departments)}" if case.co_departments else ""),
        f"petitioner  {case.name or '(anonymous)'}  {case.phone or '-'}",
        f"flags       {', '.join(case.flags) or '-'}",
    ]
    if case.answer_text:
        lines.append(f"answer      [{case.answer_outcome}] {case.answer_text}")
    if case.request_until:
        lines.append(f"remedy until {local(case.request_until)}")
    if case.rating:
        lines.append(f"rating      {case.rating} {case.rating_comment}".rstrip())

    def number(case_id: int) -> str:
        known = detail.numbers.get(case_id)
        return format_tracking_no(known) if known else f"case id {case_id}"

    if case.linked_to:
        lines.append(f"handled with {number(case.linked_to)} (primary)")
    for link in detail.links:
        other = link.other_case_id if link.case_id == case.id else link.case_id
        lines.append(f"{link.kind:<11} {number(other)} (score {link.score:.2f})")
    lines.append("timeline:")
    for e in detail.events:
        flag = "" if e.public else " (internal)"
        told = f"told the petitioner: {e.message}" if e.message else ""
        text = "  ".join(t for t in (told, e.note) if t)
        if e.kind == "flags_changed" and e.data:
            changed = [f"+{f}" for f in e.data.get("added", [])]
            changed += [f"-{f}" for f in e.data.get("removed", [])]
            text = f"{' '.join(changed)} ({e.data.get('cause', '')})"
        lines.append(f"  {local(e.at)}  {e.actor:<16} {e.kind}{flag}  {text}".rstrip())
    return "\n".join(lines)
