"""Staff credentials: the password policy, the own password change, a reset that forces a
change, API tokens with a scope and an expiry, and the `xinfang staff` commands for them
(on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.__main__ import parser
from bot.settings import load_settings
from bot.staff.access import Role
from bot.staff.accounts import (
    LockedOut,
    LoginFailed,
    StaffAccounts,
    WrongPassword,
)
from bot.staff.api_tokens import TokenRefused
from bot.staff.passwords import WeakPassword, check_policy, common_passwords
from bot.storage import staff as store
from bot.storage.db import Database
from bot.storage.tables import audit_log
from tests.conftest import FixedClock

GOOD = "quiet river under stone"
NEWER = "lanterns over the west lake"


def main(argv: list[str]) -> int:
    """Run one `xinfang …` command in-process."""
    args = parser().parse_args(argv)
    return int(args.func(load_settings(), args))


@pytest.fixture
def accounts(db: Database, clock: FixedClock) -> StaffAccounts:
    """Accounts on the test database, on a clock that moves only when told."""
    return StaffAccounts(db, clock=clock, token_days=90)


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "too_short"),
        ("password123", "common"),  # on the list once the digits are taken off
        ("qwertyuiop", "common"),
        ("Iloveyou!!!", "common"),
        ("1234567890", "common"),
        ("wangfang-is-here", "personal"),  # the login
        ("我是王芳我的密码很长", "personal"),  # the display name
        ("call 139 1234 5678 now", "personal"),  # the phone, however spaced
    ],
)
def test_policy_refuses_weak_and_personal_passwords(password: str, code: str) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_policy(password, "wangfang", personal=["王芳", "13912345678"])
    assert refused.value.code == code


def test_policy_accepts_a_long_unusual_passphrase() -> None:
    assert len(common_passwords()) > 19_000  # the shipped list is read
    check_policy(GOOD, "wangfang", personal=["王芳"])


async def test_add_refuses_a_common_password(accounts: StaffAccounts) -> None:
    with pytest.raises(WeakPassword):
        await accounts.add("wang", "1q2w3e4r5t", role=Role.VIEWER)
    with pytest.raises(WeakPassword):
        await accounts.add("lisisi", "lisisi-2026-ok", role=Role.VIEWER, display_name="李思思")
    with pytest.raises(WeakPassword):
        await accounts.add("li", "我的名字是李思思啊", role=Role.VIEWER, display_name="李思思")
    assert await accounts.all() == []


async def test_own_change_needs_the_current_password_and_ends_other_sessions(
    accounts: StaffAccounts, db: Database
) -> None:
    row = await accounts.add("wang", GOOD, role=Role.VIEWER, display_name="王芳")
    mine = await accounts.open_session(row.id)
    other = await accounts.open_session(row.id)
    with pytest.raises(WrongPassword):
        await accounts.change_password("wang", "not my password", NEWER)
    with pytest.raises(WeakPassword) as same:
        await accounts.change_password("wang", GOOD, GOOD)
    assert same.value.code == "same"
    with pytest.raises(WeakPassword):
        await accounts.change_password("wang", GOOD, "wang wang wang wang")
    assert await accounts.session(other.token) is not None  # nothing changed yet
    hashed = (await accounts.session(mine.token)).token_hash  # type: ignore[union-attr]
    await accounts.change_password("wang", GOOD, NEWER, keep_session=hashed)
    assert await accounts.session(mine.token) is not None
    assert await accounts.session(other.token) is None
    assert (await accounts.authenticate("wang", NEWER)).login == "wang"
    async with db.read() as conn:
        actions = (await conn.execute(select(audit_log.c.action))).scalars().all()
    assert "staff.change_password" in actions


async def test_reset_forces_a_change_that_clears_the_flag(accounts: StaffAccounts) -> None:
    row = await accounts.add("wang", GOOD, role=Role.VIEWER)
    await accounts.reset_password("wang", "temporary given by admin", actor="cli:root")
    tokens = await accounts.open_session(row.id)
    live = await accounts.session(tokens.token)
    assert live is not None and live.must_change_password
    await accounts.change_password("wang", "temporary given by admin", NEWER)
    again = await accounts.open_session(row.id)
    live = await accounts.session(again.token)
    assert live is not None and not live.must_change_password


async def test_tokens_have_a_scope_a_default_expiry_and_a_clear_refusal(
    accounts: StaffAccounts, clock: FixedClock
) -> None:
    await accounts.add("wang", GOOD, role=Role.HANDLER, departments=["330102-zjj"])
    read = await accounts.issue("wang", "report screen", scope="read")
    forever = await accounts.issue("wang", "sync job", days=0)
    assert read.expires_at == clock() + timedelta(days=90) and read.scope == "read"
    assert forever.expires_at is None and forever.scope == "write"
    granted = await accounts.token_auth(read.token)
    assert (granted.member.login, granted.scope) == ("wang", "read")
    listed = {t.id: t for t in await accounts.tokens("wang")}
    assert listed[read.id].last_used_at == clock() and listed[forever.id].last_used_at is None
    assert (listed[read.id].name, listed[read.id].scope) == ("report screen", "read")
    clock.advance(days=90)
    with pytest.raises(TokenRefused) as expired:
        await accounts.token_auth(read.token)
    assert expired.value.code == "token_expired"
    assert (await accounts.token_auth(forever.token)).scope == "write"
    await accounts.revoke_token(forever.id)
    with pytest.raises(TokenRefused) as revoked:
        await accounts.token_auth(forever.token)
    assert revoked.value.code == "invalid_token"


@pytest.fixture
def env(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """`xinfang` commands on the test database, in the office's time zone."""
    monkeypatch.setenv("XINFANG_DATABASE_URL", db.url)
    monkeypatch.setenv("XINFANG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XINFANG_AUTO_MIGRATE", "false")
    monkeypatch.setenv("XINFANG_TIMEZONE", "Asia/Shanghai")
    return db


async def test_cli_tokens_passwd_and_lockout_in_office_time(
    env: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = StaffAccounts(env)
    await accounts.add("wang", GOOD, role=Role.HANDLER, departments=["330102-zjj"])
    argv = ["staff", "token", "wang", "--name", "大屏", "--scope", "read", "--days", "30"]
    assert await asyncio.to_thread(main, argv) == 0
    issued = capsys.readouterr().out
    (secret,) = [line for line in issued.splitlines() if line.startswith("xft_")]
    assert "scope read" in issued and "expires 20" in issued
    assert await asyncio.to_thread(main, ["staff", "tokens", "wang"]) == 0
    listed = capsys.readouterr().out
    assert secret not in listed and "xft_" not in listed
    (row,) = [line for line in listed.splitlines() if "大屏" in line]
    async with env.read() as conn:
        (token,) = await store.list_tokens(conn)
    local = (token.expires_at + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")  # type: ignore[operator]
    assert row.split()[0] == str(token.id) and "read" in row and local in row and "live" in row

    monkeypatch.setattr("sys.stdin", io.StringIO(f"{GOOD}\n{NEWER}\n"))
    assert await asyncio.to_thread(main, ["staff", "passwd", "wang", "--password-stdin"]) == 0
    assert "changed" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{GOOD}\n{NEWER} again\n"))
    assert await asyncio.to_thread(main, ["staff", "passwd", "wang", "--password-stdin"]) == 1
    assert "wrong current password" in capsys.readouterr().err

    for _ in range(5):
        with pytest.raises((LoginFailed, LockedOut)):
            await accounts.authenticate("wang", "wrong guess at the password")
    assert await asyncio.to_thread(main, ["staff", "list"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("wang")]
    async with env.read() as conn:
        locked = (await store.by_login(conn, "wang")).locked_until  # type: ignore[union-attr]
    assert locked is not None
    assert (locked + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M") in line
