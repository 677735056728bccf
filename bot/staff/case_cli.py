"""`xinfang case …`: every action of the catalogue (bot.staff.actions) as a subcommand,
plus `show` and `due`.

The operator acts as ``--actor`` through :class:`bot.cases.service.LifecycleService`, so
each command is checked against the state machine and writes the event and the citizen's
push in the same transaction as the change; the console's role and authority checks are
for staff accounts and do not apply here.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.cases.lifecycle import Change
from bot.cases.register_cli import add_register, refused_text
from bot.cases.service import CaseDetail, LifecycleService, load_case_config
from bot.cases.staff_registration import InvalidPetition
from bot.dialogs.texts import load_texts
from bot.domain.statuses import LifecycleError
from bot.domain.tracking import format_tracking_no
from bot.settings import Settings
from bot.staff.actions import ACTIONS, STATIC_CHOICES, ActionSpec, Context, InvalidParams, Param
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
    p = cmds.add_parser("show", help="a case with its timeline, links and deadline")
    p.add_argument("number", help="tracking number, e.g. XF261121-048273-3")
    p.set_defaults(handler=_show)
    for spec in ACTIONS:
        p = cmds.add_parser(spec.cli_name, help=spec.summary)
        p.add_argument("number", help="tracking number, e.g. XF261121-048273-3")
        for param in spec.params:
            _add_param(p, param)
        p.set_defaults(handler=_runner(spec))
    add_register(cmds)
    p = cmds.add_parser("due", help="overdue and near-due cases")
    p.add_argument("--department", default="", help="only this department")
    p.add_argument("--all", action="store_true", help="also cases that are on time")
    p.set_defaults(handler=_due)


def _add_param(p: argparse.ArgumentParser, param: Param) -> None:
    """One parameter of an action as a positional argument or an option."""
    flags = param.cli_flags
    options: dict[str, Any] = {"help": param.help}
    if param.kind == "int":
        options["type"] = int
    if param.is_static:
        options["choices"] = STATIC_CHOICES[param.choices]
    if param.kind == "choices":
        options.update(nargs="*", default=None)
    if not flags:
        p.add_argument(param.name, **options)
        return
    options["dest"] = param.name
    if param.kind == "bool":  # on by default: the flag turns it off
        p.add_argument(*flags, action="store_false", help=param.help, dest=param.name)
        return
    if param.from_file:
        group = p.add_mutually_exclusive_group(required=param.required)
        group.add_argument(*flags, **options)
        group.add_argument(
            f"--{param.name}-file",
            dest=f"{param.name}_file",
            help=f"read {param.name} from this UTF-8 file",
        )
        return
    if param.kind != "choices":
        options.update(required=param.required, default=None)
    p.add_argument(*flags, **options)


def _runner(spec: ActionSpec) -> Handler:
    async def handler(svc: LifecycleService, args: argparse.Namespace) -> str:
        raw: dict[str, Any] = {}
        for param in spec.params:
            raw[param.name] = getattr(args, param.name, None)
            path = getattr(args, f"{param.name}_file", None)
            if param.from_file and path:
                raw[param.name] = Path(path).read_text(encoding="utf-8")  # noqa: ASYNC240
        try:
            values = spec.clean(raw)
        except InvalidParams as exc:
            raise LifecycleError(str(exc), exc.code, **exc.params) from None
        done = await spec.run(svc, args.number, values, Context(args.actor))
        number = format_tracking_no(done.change.case.tracking_no)
        if spec.name == "note":
            return f"{number}: internal note added"
        if spec.name == "edit":
            return f"{number}: corrected; flags {', '.join(done.flags or ()) or '(none)'}"
        if done.flags is not None:
            return f"{number}: flags {', '.join(done.flags) or '(none)'}"
        if spec.name == "assign_handler":
            return f"{number}: handler {done.change.case.handler or '(none)'}"
        return _changed(svc, done.change)

    return handler


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
