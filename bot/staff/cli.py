"""`xinfang staff …`: staff accounts and API tokens from the command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.cases.routing import load_routing
from bot.settings import Settings
from bot.staff.access import Role
from bot.staff.accounts import AccountError, StaffAccounts, WrongPassword
from bot.staff.api_tokens import TOKEN_SCOPES
from bot.staff.passwords import WeakPassword
from bot.storage import migrate
from bot.storage.db import Database

Handler = Callable[["_Context", argparse.Namespace], Awaitable[str]]


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
    p = command("passwd", "change your own password (asks for the current one)", _passwd)
    p.add_argument("login")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the current password, then the new one, one a line from standard input",
    )
    p = command("token", "issue a bearer token for the JSON API (shown once)", _token)
    p.add_argument("login")
    p.add_argument("--name", required=True, help="what the token is for")
    p.add_argument(
        "--days",
        type=int,
        default=None,
        help="expires after this many days (default XINFANG_API_TOKEN_DAYS; 0: never)",
    )
    p.add_argument(
        "--scope",
        choices=TOKEN_SCOPES,
        default="write",
        help="read: every mutating API route answers 403; write: all the role may (default)",
    )
    p = command("tokens", "list an account's API tokens (never the tokens themselves)", _tokens)
    p.add_argument("login")
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


@dataclass(frozen=True)
class _Context:
    """What every handler gets: the accounts and the office's time zone."""

    accounts: StaffAccounts
    tz: ZoneInfo

    def local(self, when: datetime | None, empty: str = "-") -> str:
        """A stored UTC time in the office's time zone, as staff read clocks."""
        return when.astimezone(self.tz).strftime("%Y-%m-%d %H:%M") if when else empty


def _run(settings: Settings, args: argparse.Namespace) -> int:
    async def main() -> str:
        db = Database(settings.effective_database_url)
        try:
            await migrate.ensure_schema(db, auto_upgrade=settings.auto_migrate)
            accounts = StaffAccounts(
                db,
                known_departments=load_routing(settings.config_dir).departments.keys(),
                token_days=settings.api_token_days,
            )
            handler: Handler = args.handler
            return await handler(_Context(accounts, ZoneInfo(settings.timezone)), args)
        finally:
            await db.dispose()

    try:
        print(asyncio.run(main()))
    except (AccountError, WeakPassword) as exc:
        print(f"xinfang staff {args.staff_command}: {exc}", file=sys.stderr)
        return 1
    except WrongPassword:
        print(f"xinfang staff {args.staff_command}: wrong current password", file=sys.stderr)
        return 1
    return 0


async def _add(ctx: _Context, args: argparse.Namespace) -> str:
    row = await ctx.accounts.add(
        args.login,
        _read_password(args),
        role=Role(args.role),
        departments=args.department,
        display_name=args.name,
        lang=args.lang,
        actor=_actor(),
    )
    return f"added {row.login} ({row.role.value}; {', '.join(row.departments) or 'all'})"


async def _list(ctx: _Context, _args: argparse.Namespace) -> str:
    rows = await ctx.accounts.all()
    if not rows:
        return "no staff accounts yet: add one with `xinfang staff add LOGIN --role admin`"
    now = ctx.accounts.clock()
    lines = [f"{'login':<20} {'role':<10} {'active':<6} {'locked until':<16} departments"]
    for r in rows:
        locked = r.locked_until if r.locked_until and r.locked_until > now else None
        lines.append(
            f"{r.login:<20} {r.role.value:<10} {'yes' if r.active else 'no':<6} "
            f"{ctx.local(locked):<16} {', '.join(r.departments) or '-'}"
        )
    return "\n".join(lines)


async def _update(ctx: _Context, args: argparse.Namespace) -> str:
    row = await ctx.accounts.update(
        args.login,
        role=Role(args.role) if args.role else None,
        departments=args.department,
        display_name=args.name,
        actor=_actor(),
    )
    return f"updated {row.login} ({row.role.value}; {', '.join(row.departments) or 'all'})"


def _set_active(active: bool) -> Handler:
    async def handler(ctx: _Context, args: argparse.Namespace) -> str:
        await ctx.accounts.set_active(args.login, active, actor=_actor())
        return f"{'enabled' if active else 'disabled'} {args.login}"

    return handler


async def _unlock(ctx: _Context, args: argparse.Namespace) -> str:
    await ctx.accounts.unlock(args.login, actor=_actor())
    return f"{args.login} unlocked"


async def _reset(ctx: _Context, args: argparse.Namespace) -> str:
    await ctx.accounts.reset_password(args.login, _read_password(args), actor=_actor())
    return (
        f"password of {args.login} reset; its sessions ended; "
        "a new password must be chosen at the next login"
    )


async def _passwd(ctx: _Context, args: argparse.Namespace) -> str:
    if args.password_stdin:
        current = sys.stdin.readline().rstrip("\r\n")
        new = sys.stdin.readline().rstrip("\r\n")
    else:
        current = getpass.getpass("current password: ")
        new = getpass.getpass("new password: ")
        if getpass.getpass("new password again: ") != new:
            raise AccountError("the two new passwords differ")
    await ctx.accounts.change_password(args.login, current, new)
    return f"password of {args.login} changed; every session of the account ended"


async def _token(ctx: _Context, args: argparse.Namespace) -> str:
    issued = await ctx.accounts.issue(
        args.login, args.name, days=args.days, scope=args.scope, actor=_actor()
    )
    expiry = ctx.local(issued.expires_at, "never")
    return (
        f"{issued.token}\n(shown once: store it now; send it as 'Authorization: Bearer <token>')"
        f"\nid {issued.id} · scope {issued.scope} · expires {expiry}"
    )


async def _tokens(ctx: _Context, args: argparse.Namespace) -> str:
    rows = await ctx.accounts.tokens(args.login)
    if not rows:
        return f"{args.login} has no API tokens"
    now = ctx.accounts.clock()
    lines = [
        f"{'id':>5}  {'label':<24} {'scope':<6} {'created':<16} {'last used':<16} "
        f"{'expires':<16} state"
    ]
    for t in rows:
        state = (
            "revoked"
            if t.revoked_at
            else "expired"
            if t.expires_at is not None and t.expires_at <= now
            else "live"
        )
        lines.append(
            f"{t.id:>5}  {t.name[:24]:<24} {t.scope:<6} {ctx.local(t.created_at):<16} "
            f"{ctx.local(t.last_used_at):<16} {ctx.local(t.expires_at, 'never'):<16} {state}"
        )
    return "\n".join(lines)


async def _revoke(ctx: _Context, args: argparse.Namespace) -> str:
    if not await ctx.accounts.revoke_token(args.token_id, actor=_actor()):
        raise AccountError(f"no live token with id {args.token_id}")
    return f"token {args.token_id} revoked"
