"""Migration 0017: tokens issued before it keep working (write scope, their own expiry),
accounts are not forced to change passwords, and the public search document of existing
cases no longer holds the petitioner's own name and address."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, text, update

from bot.staff.access import Role
from bot.staff.accounts import StaffAccounts, token_hash
from bot.storage import staff as store
from bot.storage.db import Database
from bot.storage.migrate import downgrade, upgrade
from bot.storage.tables import cases
from tests.cases.lifecycle_support import make_case
from tests.storage.test_migrations import empty_db

__all__ = ["empty_db"]  # the fixture: a fresh SQLite and PostgreSQL database

NOW = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
TOKEN = "xft_issued-before-0017"


async def test_0017_keeps_old_tokens_and_narrows_the_public_document(empty_db: Database) -> None:
    await upgrade(empty_db, "0010")
    case_id = await make_case(
        empty_db,
        NOW,
        answers={
            "name": "欧阳春花",
            "address": "文三路100号",
            "request": "欧阳春花请求修文三路100号门前的路",
        },
    )
    async with empty_db.transaction() as conn:
        await conn.execute(
            update(cases).where(cases.c.id == case_id).values(search_doc="欧阳 阳春 春花 修路")
        )
        staff_id = (
            await conn.execute(
                text(
                    "INSERT INTO staff (login, display_name, password_hash, role, departments,"
                    " lang, active, failed_logins, password_changed_at, created_at) VALUES"
                    " ('wang', '', 'x', 'handler', '[\"330102-zjj\"]', 'zh', true, 0, :now, :now)"
                    " RETURNING id"
                ),
                {"now": NOW},
            )
        ).scalar_one()
        await conn.execute(
            text(
                "INSERT INTO api_tokens (staff_id, name, token_hash, created_at)"
                " VALUES (:staff, 'old', :hash, :now)"
            ),
            {"staff": staff_id, "hash": token_hash(TOKEN), "now": NOW},
        )
    await upgrade(empty_db)
    granted = await StaffAccounts(empty_db).token_auth(TOKEN)
    assert (granted.member.login, granted.scope) == ("wang", "write")
    async with empty_db.read() as conn:
        (token,) = await store.list_tokens(conn)
        account = await store.by_login(conn, "wang")
        doc = (await conn.execute(select(cases.c.search_doc))).scalar_one()
    assert token.expires_at is None and account is not None
    assert account.role is Role.HANDLER and not account.must_change_password
    assert "春花" not in doc and "100" not in doc and "修" in doc
    await downgrade(empty_db, "0010")
    async with empty_db.transaction() as conn:  # the old schema takes rows again
        await conn.execute(
            text(
                "INSERT INTO api_tokens (staff_id, name, token_hash, created_at)"
                " VALUES (:staff, 'again', 'h2', :now)"
            ),
            {"staff": staff_id, "now": NOW},
        )
