"""Staff accounts: creation, login with lock-out, console sessions and API tokens.

Secrets are random tokens; only their SHA-256 is stored, so a copy of the database
does not let anyone in. Passwords are Argon2id hashes (:mod:`bot.staff.passwords`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import utc_now
from bot.logging import get_logger
from bot.staff.access import Role, StaffMember
from bot.staff.api_tokens import TOKEN_PREFIX, TOKEN_SCOPES, IssuedToken, TokenAuth, TokenRefused
from bot.staff.passwords import (
    WeakPassword,
    check_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from bot.storage import lookup_limits as limits
from bot.storage import staff as store
from bot.storage.db import Database
from bot.storage.staff import StaffRow

log = get_logger(__name__)

LOGIN_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


class AccountError(ValueError):
    """An account operation was refused; the message says why."""


class LoginFailed(Exception):
    """Wrong login or password, or a disabled account (deliberately not told apart)."""


class WrongPassword(Exception):
    """The current password given to change it is wrong."""


class LockedOut(Exception):
    """Too many failed logins: the account is locked until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


def login_key(login: str) -> str:
    """The key a login's failed attempts are counted under (known or not)."""
    return limits.client_key(f"login:{login}")


def token_hash(token: str) -> str:
    """The stored form of a session or API token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionTokens:
    """What a new console session hands to the browser."""

    token: str  # the cookie value
    csrf: str  # the form token


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A resolved console session."""

    member: StaffMember
    csrf: str
    token_hash: str
    must_change_password: bool = False  # nothing but the password form until it is changed


@dataclass
class StaffAccounts:
    """Account management, authentication and sessions over the database."""

    db: Database
    known_departments: Collection[str] = ()
    max_failed_logins: int = 5
    lockout: timedelta = timedelta(minutes=15)
    session_idle: timedelta = timedelta(minutes=60)
    session_max: timedelta = timedelta(hours=12)
    token_days: int = 90  # an API token's default lifetime; 0: tokens do not expire
    clock: Callable[[], datetime] = utc_now

    # --- accounts -------------------------------------------------------------------

    async def add(
        self,
        login: str,
        password: str,
        *,
        role: Role,
        departments: Collection[str] = (),
        display_name: str = "",
        lang: str = "zh",
        actor: str = "system",
    ) -> StaffRow:
        """Create an account; refuses bad logins, weak passwords and unknown departments."""
        login = login.strip().lower()
        if not LOGIN_PATTERN.fullmatch(login):
            raise AccountError(
                "a login is 2-64 characters: lower-case letters, digits, '.', '_' or '-'"
            )
        check_policy(password, login, personal=[display_name])
        deps = self._departments(departments)
        if role is Role.HANDLER and not deps:
            raise AccountError("a handler needs at least one department")
        if lang not in ("zh", "en"):
            raise AccountError("lang is zh or en")
        now = self.clock()
        async with self.db.transaction() as conn:
            if await store.by_login(conn, login) is not None:
                raise AccountError(f"login {login!r} is taken")
            staff_id = await store.insert_staff(
                conn,
                login=login,
                display_name=display_name.strip()[:100],
                password_hash=hash_password(password),
                role=role,
                departments=deps,
                lang=lang,
                now=now,
            )
            await store.add_audit(
                conn,
                at=now,
                actor=actor,
                action="staff.add",
                target=login,
                detail={"role": role.value, "departments": deps},
            )
            row = await store.by_id(conn, staff_id)
        assert row is not None
        log.info("staff.added", login=login, role=role.value, actor=actor)
        return row

    async def update(
        self,
        login: str,
        *,
        role: Role | None = None,
        departments: Collection[str] | None = None,
        display_name: str | None = None,
        actor: str = "system",
    ) -> StaffRow:
        """Change an account's role, departments or display name."""
        values: dict[str, object] = {}
        if role is not None:
            values["role"] = role.value
        if departments is not None:
            values["departments"] = self._departments(departments)
        if display_name is not None:
            values["display_name"] = display_name.strip()[:100]
        async with self.db.transaction() as conn:
            row = await self._get(conn, login)
            new_role = role or row.role
            new_deps = values.get("departments", list(row.departments))
            if new_role is Role.HANDLER and not new_deps:
                raise AccountError("a handler needs at least one department")
            await store.update_staff(conn, row.id, **values)
            await store.add_audit(
                conn,
                at=self.clock(),
                actor=actor,
                action="staff.update",
                target=row.login,
                detail={k: v for k, v in values.items() if k != "display_name"},
            )
            updated = await store.by_id(conn, row.id)
        assert updated is not None
        return updated

    async def set_active(self, login: str, active: bool, *, actor: str = "system") -> None:
        """Disable (ending every session) or re-enable an account."""
        async with self.db.transaction() as conn:
            row = await self._get(conn, login)
            await store.update_staff(conn, row.id, active=active, failed_logins=0)
            if not active:
                await store.delete_sessions_of(conn, row.id)
            action = "staff.enable" if active else "staff.disable"
            await store.add_audit(conn, at=self.clock(), actor=actor, action=action, target=login)
        log.info("staff.active_changed", login=login, active=active, actor=actor)

    async def reset_password(self, login: str, password: str, *, actor: str = "system") -> None:
        """Set a new password, unlock the account and end its sessions; its owner must
        choose their own password at the next login (the administrator knows this one)."""
        async with self.db.read() as conn:
            row = await self._get(conn, login)
        check_policy(password, row.login, personal=[row.display_name])
        hashed = await asyncio.to_thread(hash_password, password)
        now = self.clock()
        async with self.db.transaction() as conn:
            await store.update_staff(
                conn,
                row.id,
                password_hash=hashed,
                password_changed_at=now,
                must_change_password=True,
                failed_logins=0,
                locked_until=None,
            )
            await store.delete_sessions_of(conn, row.id)
            await limits.clear(conn, "login", login_key(row.login))
            await store.add_audit(
                conn, at=now, actor=actor, action="staff.reset_password", target=login
            )

    async def change_password(
        self, login: str, current: str, new: str, *, keep_session: str | None = None, ip: str = ""
    ) -> None:
        """The account's own password change: the current password is required; every
        other session of the account ends (``keep_session``: the hash of the one asking)."""
        async with self.db.read() as conn:
            row = await self._get(conn, login)
        if not await asyncio.to_thread(verify_password, row.password_hash, current):
            raise WrongPassword()
        if new == current:
            raise WeakPassword("the new password must differ from the current one", "same")
        check_policy(new, row.login, personal=[row.display_name])
        hashed = await asyncio.to_thread(hash_password, new)
        now = self.clock()
        async with self.db.transaction() as conn:
            await store.update_staff(
                conn,
                row.id,
                password_hash=hashed,
                password_changed_at=now,
                must_change_password=False,
            )
            await store.delete_sessions_of(conn, row.id, keep=keep_session)
            await store.add_audit(
                conn,
                at=now,
                actor=row.login,
                action="staff.change_password",
                staff_id=row.id,
                target=row.login,
                ip=ip,
            )
        log.info("staff.password_changed", login=row.login)

    async def all(self) -> list[StaffRow]:
        """All accounts."""
        async with self.db.read() as conn:
            return await store.list_staff(conn)

    # --- login and sessions ---------------------------------------------------------

    async def authenticate(self, login: str, password: str, *, ip: str = "") -> StaffRow:
        """The account for these credentials; counts failures and locks the login.

        Unknown logins are counted and locked like existing ones and every attempt runs
        one Argon2 verification, so neither the answer nor its timing says whether a
        login exists. The verification runs in a worker thread, before (outside) the
        short write transaction that records the outcome.
        """
        login = login.strip().lower()[:64]
        key = login_key(login)
        now = self.clock()
        async with self.db.read() as conn:
            row = await store.by_login(conn, login)
            until = await limits.locked_until(conn, [("login", key)], now)
        ok = await asyncio.to_thread(verify_password, row.password_hash if row else None, password)
        if until is not None:
            raise LockedOut(until)
        if row is not None and ok and row.active:
            values: dict[str, object] = {
                "failed_logins": 0,
                "locked_until": None,
                "last_login_at": now,
            }
            if needs_rehash(row.password_hash):
                values["password_hash"] = await asyncio.to_thread(hash_password, password)
            async with self.db.transaction() as conn:
                await store.update_staff(conn, row.id, **values)
                await limits.clear(conn, "login", key)
                await store.add_audit(
                    conn, at=now, actor=row.login, action="login", staff_id=row.id, ip=ip
                )
            return row
        # The failure is counted and audited in this committed transaction, then refused.
        limit = limits.Limit(self.max_failed_logins, self.lockout, self.lockout)
        async with self.db.transaction() as conn:
            # a name no account can have (the pattern is public) is not counted
            locked = (
                await limits.record_failure(conn, "login", key, now, limit)
                if LOGIN_PATTERN.fullmatch(login)
                else None
            )
            if row is not None and row.active:
                failures = 0 if locked else row.failed_logins + 1
                await store.update_staff(conn, row.id, failed_logins=failures, locked_until=locked)
            await store.add_audit(
                conn,
                at=now,
                actor=login or "?",
                action="login.failed",
                staff_id=row.id if row else None,
                ip=ip,
            )
        log.info("staff.login_failed", login=login, ip=ip)
        raise LoginFailed()

    async def unlock(self, login: str, *, actor: str = "system") -> None:
        """Lift a login's lock-out (failed logins) before it runs out."""
        login = login.strip().lower()
        async with self.db.transaction() as conn:
            row = await self._get(conn, login)
            await limits.clear(conn, "login", login_key(row.login))
            await store.update_staff(conn, row.id, failed_logins=0, locked_until=None)
            await store.add_audit(
                conn, at=self.clock(), actor=actor, action="staff.unlock", target=login
            )

    async def open_session(self, staff_id: int) -> SessionTokens:
        """Start a console session for an authenticated account."""
        tokens = SessionTokens(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        now = self.clock()
        async with self.db.transaction() as conn:
            await store.delete_expired_sessions(conn, now)
            await store.insert_session(
                conn,
                token_hash=token_hash(tokens.token),
                staff_id=staff_id,
                csrf_token=tokens.csrf,
                now=now,
                expires_at=now + self.session_idle,
            )
        return tokens

    async def session(self, token: str) -> LiveSession | None:
        """The live session for a cookie value, sliding its idle expiry; None if gone."""
        if not token or len(token) > 128:
            return None
        hashed = token_hash(token)
        now = self.clock()
        async with self.db.read() as conn:
            row = await store.session_by_hash(conn, hashed, now)
        if row is None:
            return None
        expires = min(now + self.session_idle, row.created_at + self.session_max)
        if expires <= now:
            return None
        # Touch at most once a minute: a page view should not always be a write.
        if now - row.last_seen_at > timedelta(minutes=1):
            async with self.db.transaction() as conn:
                await store.touch_session(conn, hashed, now, expires)
        return LiveSession(
            row.staff.member(), row.csrf_token, hashed, row.staff.must_change_password
        )

    async def close_session(self, token: str, *, ip: str = "") -> None:
        """Log out (audited as ``logout`` when the session was live)."""
        hashed = token_hash(token)
        now = self.clock()
        async with self.db.transaction() as conn:
            live = await store.session_by_hash(conn, hashed, now)
            await store.delete_session(conn, hashed)
            if live is not None:
                await store.add_audit(
                    conn,
                    at=now,
                    actor=live.staff.login,
                    action="logout",
                    staff_id=live.staff.id,
                    ip=ip,
                    detail={"via": "session"},
                )

    # --- API tokens -----------------------------------------------------------------

    async def issue_token(
        self,
        login: str,
        name: str,
        *,
        days: int | None = None,
        scope: str = "write",
        actor: str = "system",
    ) -> str:
        """A new bearer token for an account (shown once; only its hash is kept)."""
        issued = await self.issue(login, name, days=days, scope=scope, actor=actor)
        return issued.token

    async def issue(
        self,
        login: str,
        name: str,
        *,
        days: int | None = None,
        scope: str = "write",
        actor: str = "system",
    ) -> IssuedToken:
        """A new bearer token: ``scope`` read or write, expiring after ``days`` (None: the
        configured default, ``token_days``; 0: never)."""
        if scope not in TOKEN_SCOPES:
            raise AccountError(f"a token's scope is one of {', '.join(TOKEN_SCOPES)}")
        days = self.token_days if days is None else days
        if days < 0:
            raise AccountError("days is 0 (no expiry) or more")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + timedelta(days=days) if days else None
        async with self.db.transaction() as conn:
            row = await self._get(conn, login)
            token_id = await store.insert_token(
                conn,
                staff_id=row.id,
                name=name.strip()[:100] or "token",
                token_hash=token_hash(token),
                now=now,
                expires_at=expires,
                scope=scope,
            )
            await store.add_audit(
                conn,
                at=now,
                actor=actor,
                action="token.issue",
                target=login,
                detail={"name": name, "id": token_id, "scope": scope, "days": days},
            )
        return IssuedToken(token, token_id, scope, expires)

    async def tokens(self, login: str) -> list[store.TokenRow]:
        """An account's API tokens (metadata only: the secrets are not kept)."""
        async with self.db.read() as conn:
            row = await self._get(conn, login)
            return await store.list_tokens(conn, row.id)

    async def token_auth(self, token: str) -> TokenAuth:
        """Who a bearer token lets in; TokenRefused when it lets no one in."""
        unknown = TokenRefused("invalid_token", "the bearer token is unknown or revoked")
        if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            raise unknown
        now = self.clock()
        async with self.db.read() as conn:
            found = await store.token_by_hash(conn, token_hash(token))
        if found is None:
            raise unknown
        row, account = found
        if row.revoked_at is not None or not account.active:
            raise unknown
        if row.expires_at is not None and row.expires_at <= now:
            raise TokenRefused(
                "token_expired",
                f"the bearer token expired at {row.expires_at.isoformat()}; ask for a new one",
            )
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
            async with self.db.transaction() as conn:  # at most a write a minute per token
                await store.touch_token(conn, row.id, now)
        return TokenAuth(account.member(), row.scope, row.id)

    async def token_member(self, token: str) -> StaffMember | None:
        """The staff member a bearer token belongs to, if the token is live."""
        try:
            return (await self.token_auth(token)).member
        except TokenRefused:
            return None

    async def revoke_token(self, token_id: int, *, actor: str = "system") -> bool:
        """Revoke an API token by id."""
        now = self.clock()
        async with self.db.transaction() as conn:
            done = await store.revoke_token(conn, token_id, now)
            if done:
                await store.add_audit(
                    conn, at=now, actor=actor, action="token.revoke", target=str(token_id)
                )
        return done

    # --- helpers --------------------------------------------------------------------

    def _departments(self, departments: Collection[str]) -> list[str]:
        deps = sorted({d.strip() for d in departments if d.strip()})
        unknown = [d for d in deps if self.known_departments and d not in self.known_departments]
        if unknown:
            raise AccountError(f"unknown department code(s): {', '.join(unknown)}")
        return deps

    async def _get(self, conn: AsyncConnection, login: str) -> StaffRow:
        row = await store.by_login(conn, login.strip().lower())
        if row is None:
            raise AccountError(f"no staff account {login!r}")
        return row
