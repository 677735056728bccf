"""`xinfang staff …`: staff accounts and API tokens from the command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bot.cases.routing import load_routing
from bot.settings import Settings
from bot.staff.access import Role
from bot.staff.accounts import AccountError, StaffAccounts
from bot.staff.passwords import WeakPassword
from bot.storage import migrate
from bot.storage.db import Database

Handler = Callable[[StaffAccounts, argparse.Namespace], Awaitable[str]]


def add_cli(sub: Any) -> None:
    """Register `xinfang staff` and its subcommands."""
    staff = sub.add_parser("staff", help="staff accounts and API tokens (add, list, disable, …)")
    staff.set_defaults(func=_run)
    cmds = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")

    def command(name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = cmds.add_parser(name, help=help_text)
        p.set_defaults(handler=handler)
        return p

    roles = [r.value for r in Role]
    p = command("add", "create an account (asks for the password)", _add)
    p.add_argument("login", help="login name: lower-case letters, digits, . _ -")
    p.add_argument("--role", required=True, choices=roles)
    p.add_argument("--department", action="append", default=[], help="department code (repeatable)")
    p.add_argument("--name", default="", help="display name")
    p.add_argument("--lang", default="zh", choices=["zh", "en"], help="console language")
    _password_source(p)
    command("list", "list accounts", _list)
    p = command("update", "change role, departments or display name", _update)
    p.add_argument("login")
    p.add_argument("--role", choices=roles)
    p.add_argument("--department", action="append", help="department code (repeatable)")
    p.add_argument("--name", help="display name")
    for name, help_text in (
        ("disable", "disable an account and end its sessions"),
        ("enable", "re-enable an account"),
    ):
        p = command(name, help_text, _set_active(name == "enable"))
        p.add_argument("login")
    p = command("unlock", "lift a login's lock-out after failed logins", _unlock)
    p.add_argument("login")
    p = command("reset-password", "set a new password and end the account's sessions", _reset)
    p.add_argument("login")
    _password_source(p)
    p = command("token", "issue a bearer token for the JSON API (shown once)", _token)
    p.add_argument("login")
    p.add_argument("--name", required=True, help="what the token is for")
    p.add_argument("--days", type=int, default=None, help="expires after this many days")
    p = command("revoke-token", "revoke an API token by id", _revoke)
    p.add_argument("token_id", type=int)


def _password_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (for scripts)",
    )


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _run(settings: Settings, args: argparse.Namespace) -> int:
    async def main() -> str:
        db = Database(settings.effective_database_url)
        try:
            await migrate.ensure_schema(db, auto_upgrade=settings.auto_migrate)
            accounts = StaffAccounts(
                db, known_departments=load_routing(settings.config_dir).departments.keys()
            )
            handler: Handler = args.handler
            return await handler(accounts, args)
        finally:
            await db.dispose()

    try:
        print(asyncio.run(main()))
    except (AccountError, WeakPassword) as exc:
        print(f"xinfang staff {args.staff_command}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _add(accounts: StaffAccounts, args: argparse.Namespace) -> str:
    row = await accounts.add(
        args.login,
        _read_password(args),
        role=Role(args.role),
        departments=args.department,
        display_name=args.name,
        lang=args.lang,
        actor=_actor(),
    )
    return f"added {row.login} ({row.role.value}; {', '.join(row.departments) or 'all'})"


async def _list(accounts: StaffAccounts, _args: argparse.Namespace) -> str:
    rows = await accounts.all()
    if not rows:
        return "no staff accounts yet: add one with `xinfang staff add LOGIN --role admin`"
    lines = [f"{'login':<20} {'role':<10} {'active':<6} departments"]
    for r in rows:
        lines.append(
            f"{r.login:<20} {r.role.value:<10} {'yes' if r.active else 'no':<6} "
            f"{', '.join(r.departments) or '-'}"
        )
    return "\n".join(lines)


async def _update(accounts: StaffAccounts, args: argparse.Namespace) -> str:
    row = await accounts.update(
        args.login,
        role=Role(args.role) if args.role else None,
        departments=args.department,
        display_name=args.name,
        actor=_actor(),
    )
    return f"updated {row.login} ({row.role.value}; {', '.join(row.departments) or 'all'})"


def _set_active(active: bool) -> Handler:
    async def handler(accounts: StaffAccounts, args: argparse.Namespace) -> str:
        await accounts.set_active(args.login, active, actor=_actor())
        return f"{'enabled' if active else 'disabled'} {args.login}"

    return handler


async def _unlock(accounts: StaffAccounts, args: argparse.Namespace) -> str:
    await accounts.unlock(args.login, actor=_actor())
    return f"{args.login} unlocked"


async def _reset(accounts: StaffAccounts, args: argparse.Namespace) -> str:
    await accounts.reset_password(args.login, _read_password(args), actor=_actor())
    return f"password of {args.login} reset; its sessions ended"


async def _token(accounts: StaffAccounts, args: argparse.Namespace) -> str:
    token = await accounts.issue_token(args.login, args.name, days=args.days, actor=_actor())
    return f"{token}\n(shown once: store it now; send it as 'Authorization: Bearer <token>')"


async def _revoke(accounts: StaffAccounts, args: argparse.Namespace) -> str:
    if not await accounts.revoke_token(args.token_id, actor=_actor()):
        raise AccountError(f"no live token with id {args.token_id}")
    return f"token {args.token_id} revoked"
