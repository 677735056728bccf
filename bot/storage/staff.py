"""Staff accounts, console sessions, API tokens and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.staff.access import Role, StaffMember
from bot.storage.tables import api_tokens, audit_log, staff, staff_sessions


@dataclass(frozen=True, slots=True)
class StaffRow:
    """A staff account as stored."""

    id: int
    login: str
    display_name: str
    password_hash: str
    role: Role
    departments: tuple[str, ...]
    lang: str
    active: bool
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime
    must_change_password: bool = False  # an administrator reset it

    def member(self) -> StaffMember:
        """The authenticated view of this account."""
        return StaffMember(
            self.id, self.login, self.display_name, self.role, self.departments, self.lang
        )


def _staff(row: Any) -> StaffRow:
    return StaffRow(
        id=row.id,
        login=row.login,
        display_name=row.display_name,
        password_hash=row.password_hash,
        role=Role(row.role),
        departments=tuple(row.departments or ()),
        lang=row.lang,
        active=bool(row.active),
        failed_logins=row.failed_logins,
        locked_until=row.locked_until,
        last_login_at=row.last_login_at,
        created_at=row.created_at,
        must_change_password=bool(row.must_change_password),
    )


async def insert_staff(
    conn: AsyncConnection,
    *,
    login: str,
    display_name: str,
    password_hash: str,
    role: Role,
    departments: list[str],
    lang: str,
    now: datetime,
) -> int:
    """Create an account; returns its id (the login is unique)."""
    result = await conn.execute(
        insert(staff)
        .values(
            login=login,
            display_name=display_name,
            password_hash=password_hash,
            role=role.value,
            departments=departments,
            lang=lang,
            active=True,
            password_changed_at=now,
            created_at=now,
        )
        .returning(staff.c.id)
    )
    return int(result.scalar_one())


async def by_login(conn: AsyncConnection, login: str) -> StaffRow | None:
    """The account with this login, active or not."""
    row = (await conn.execute(select(staff).where(staff.c.login == login))).first()
    return _staff(row) if row else None


async def by_id(conn: AsyncConnection, staff_id: int) -> StaffRow | None:
    """The account with this id."""
    row = (await conn.execute(select(staff).where(staff.c.id == staff_id))).first()
    return _staff(row) if row else None


async def list_staff(conn: AsyncConnection) -> list[StaffRow]:
    """All accounts, by login."""
    rows = (await conn.execute(select(staff).order_by(staff.c.login))).all()
    return [_staff(r) for r in rows]


async def update_staff(conn: AsyncConnection, staff_id: int, **values: Any) -> None:
    """Change columns of an account."""
    await conn.execute(update(staff).where(staff.c.id == staff_id).values(**values))


# --- sessions ---------------------------------------------------------------------------


async def insert_session(
    conn: AsyncConnection,
    *,
    token_hash: str,
    staff_id: int,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Store a new console session."""
    await conn.execute(
        insert(staff_sessions).values(
            token_hash=token_hash,
            staff_id=staff_id,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A live session and its account."""

    token_hash: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    staff: StaffRow


async def session_by_hash(
    conn: AsyncConnection, token_hash: str, now: datetime
) -> SessionRow | None:
    """The unexpired session of an active account with this token hash."""
    query = (
        select(
            staff,
            staff_sessions.c.token_hash,
            staff_sessions.c.csrf_token,
            staff_sessions.c.created_at.label("session_created_at"),
            staff_sessions.c.last_seen_at,
            staff_sessions.c.expires_at,
        )
        .join(staff, staff.c.id == staff_sessions.c.staff_id)
        .where(
            staff_sessions.c.token_hash == token_hash,
            staff_sessions.c.expires_at > now,
            staff.c.active.is_(True),
        )
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return SessionRow(
        row.token_hash,
        row.csrf_token,
        row.session_created_at,
        row.last_seen_at,
        row.expires_at,
        _staff(row),
    )


async def touch_session(
    conn: AsyncConnection, token_hash: str, now: datetime, expires_at: datetime
) -> None:
    """Record activity on a session and slide its idle expiry."""
    await conn.execute(
        update(staff_sessions)
        .where(staff_sessions.c.token_hash == token_hash)
        .values(last_seen_at=now, expires_at=expires_at)
    )


async def delete_session(conn: AsyncConnection, token_hash: str) -> None:
    """End one session (logout)."""
    await conn.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == token_hash))


async def delete_sessions_of(
    conn: AsyncConnection, staff_id: int, *, keep: str | None = None
) -> None:
    """End every session of an account (disabled, password reset), but ``keep`` (a token
    hash: the session that changed its own password)."""
    query = delete(staff_sessions).where(staff_sessions.c.staff_id == staff_id)
    if keep is not None:
        query = query.where(staff_sessions.c.token_hash != keep)
    await conn.execute(query)


async def delete_expired_sessions(conn: AsyncConnection, now: datetime) -> int:
    """Forget expired sessions; returns how many."""
    result = await conn.execute(delete(staff_sessions).where(staff_sessions.c.expires_at <= now))
    return int(result.rowcount or 0)


# --- API tokens -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenRow:
    """An API token's metadata (never the token itself)."""

    id: int
    staff_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    scope: str = "write"  # read: no mutating API route; write: everything the role may


def _token(r: Any) -> TokenRow:
    return TokenRow(
        r.id, r.staff_id, r.name, r.created_at, r.last_used_at, r.expires_at, r.revoked_at, r.scope
    )


async def insert_token(
    conn: AsyncConnection,
    *,
    staff_id: int,
    name: str,
    token_hash: str,
    now: datetime,
    expires_at: datetime | None,
    scope: str = "write",
) -> int:
    """Store a new API token's hash; returns its id."""
    result = await conn.execute(
        insert(api_tokens)
        .values(
            staff_id=staff_id,
            name=name,
            token_hash=token_hash,
            created_at=now,
            expires_at=expires_at,
            scope=scope,
        )
        .returning(api_tokens.c.id)
    )
    return int(result.scalar_one())


async def token_by_hash(conn: AsyncConnection, token_hash: str) -> tuple[TokenRow, StaffRow] | None:
    """A token with this hash (live or not) and its account; the caller decides."""
    query = (
        select(
            staff,
            api_tokens.c.id.label("token_id"),
            api_tokens.c.name.label("token_name"),
            api_tokens.c.created_at.label("token_created_at"),
            api_tokens.c.last_used_at.label("token_last_used_at"),
            api_tokens.c.expires_at.label("token_expires_at"),
            api_tokens.c.revoked_at.label("token_revoked_at"),
            api_tokens.c.scope.label("token_scope"),
        )
        .join(staff, staff.c.id == api_tokens.c.staff_id)
        .where(api_tokens.c.token_hash == token_hash)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    token = TokenRow(
        row.token_id,
        row.id,
        row.token_name,
        row.token_created_at,
        row.token_last_used_at,
        row.token_expires_at,
        row.token_revoked_at,
        row.token_scope,
    )
    return token, _staff(row)


async def touch_token(conn: AsyncConnection, token_id: int, now: datetime) -> None:
    """Record a token's use."""
    await conn.execute(
        update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
    )


async def list_tokens(conn: AsyncConnection, staff_id: int | None = None) -> list[TokenRow]:
    """API tokens, of one account or all."""
    query = select(api_tokens).order_by(api_tokens.c.id)
    if staff_id is not None:
        query = query.where(api_tokens.c.staff_id == staff_id)
    rows = (await conn.execute(query)).all()
    return [_token(r) for r in rows]


async def revoke_token(conn: AsyncConnection, token_id: int, now: datetime) -> bool:
    """Revoke a token; False when there was no live token with this id."""
    result = await conn.execute(
        update(api_tokens)
        .where(and_(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None)))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)


# --- audit log --------------------------------------------------------------------------


async def add_audit(
    conn: AsyncConnection,
    *,
    at: datetime,
    actor: str,
    action: str,
    staff_id: int | None = None,
    case_id: int | None = None,
    target: str = "",
    detail: dict[str, Any] | None = None,
    ip: str = "",
) -> None:
    """Append an entry to the audit log."""
    await conn.execute(
        insert(audit_log).values(
            at=at,
            staff_id=staff_id,
            actor=actor[:64],
            action=action,
            case_id=case_id,
            target=target[:128],
            detail=detail,
            ip=ip[:64],
        )
    )


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audit log entry."""

    id: int
    at: datetime
    actor: str
    action: str
    case_id: int | None
    target: str
    detail: dict[str, Any] | None
    ip: str


async def list_audit(
    conn: AsyncConnection,
    *,
    actor: str = "",
    action: str = "",
    case_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditRow]:
    """Audit entries, newest first, filtered (``since`` <= at < ``until``); page with
    ``before_id`` (the last id seen)."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if until is not None:
        query = query.where(audit_log.c.at < until)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    if action:
        query = query.where(audit_log.c.action == action)
    if case_id is not None:
        query = query.where(audit_log.c.case_id == case_id)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    rows = (await conn.execute(query)).all()
    return [
        AuditRow(r.id, r.at, r.actor, r.action, r.case_id, r.target, r.detail, r.ip) for r in rows
    ]
