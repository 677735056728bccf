"""Migrations: the migrated schema is exactly ``tables.metadata``, and down/up cycles work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from bot.messages import Address
from bot.storage import cases, contacts
from bot.storage.db import Database
from bot.storage.migrate import (
    SchemaOutOfDate,
    current_revision,
    downgrade,
    ensure_schema,
    head_revision,
    upgrade,
)
from bot.storage.tables import case_events, in_metadata, metadata
from tests.cases.lifecycle_support import make_case
from tests.conftest import _create_pg_database, _drop_pg_database

NOW = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
TABLES = {t.name for t in metadata.sorted_tables}


def _diff(conn: Connection) -> list[Any]:
    opts = {"compare_type": True, "include_name": in_metadata}
    context = MigrationContext.configure(conn, opts=opts)
    return list(compare_metadata(context, metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database of each kind with nothing in it, ours to migrate up and down."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}")
        yield database
        await database.dispose()
        return
    url = await _create_pg_database()
    if url is None:
        pytest.skip("PostgreSQL not reachable (set XINFANG_TEST_REQUIRE_PG=1 to fail instead)")
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()
        await _drop_pg_database(url)


async def test_migrated_schema_matches_metadata(db_url: str) -> None:
    """The session's migrated database (PostgreSQL: shared, so only read)."""
    database = Database(db_url)
    try:
        if not database.is_postgres:
            await upgrade(database)
        assert await current_revision(database) == head_revision()
        async with database.read() as conn:
            assert await conn.run_sync(_diff) == []
            assert await conn.run_sync(_tables) >= TABLES
    finally:
        await database.dispose()


async def test_down_and_up_again(empty_db: Database) -> None:
    assert await current_revision(empty_db) is None
    await upgrade(empty_db)
    assert await current_revision(empty_db) == head_revision()
    await upgrade(empty_db)  # already at head: a no-op
    assert await current_revision(empty_db) == head_revision()

    await downgrade(empty_db, "base")
    assert await current_revision(empty_db) is None
    async with empty_db.read() as conn:
        assert (await conn.run_sync(_tables)) & TABLES == set()

    await upgrade(empty_db)
    async with empty_db.read() as conn:
        assert await conn.run_sync(_diff) == []
    # and the re-created schema works
    async with empty_db.transaction() as conn:
        contact = await contacts.get_or_create(conn, Address("web", "u1"), NOW)
        await contacts.lock_state(conn, contact.id, NOW)
        await contacts.save_state(conn, contact.id, {"步骤": 1}, 0, NOW)
    async with empty_db.transaction() as conn:
        assert await contacts.lock_state(conn, contact.id, NOW) == ({"步骤": 1}, 1)


async def test_ensure_schema(empty_db: Database) -> None:
    with pytest.raises(SchemaOutOfDate, match="xinfang migrate"):
        await ensure_schema(empty_db, auto_upgrade=False)
    await ensure_schema(empty_db, auto_upgrade=True)
    assert await current_revision(empty_db) == head_revision()
    await ensure_schema(empty_db, auto_upgrade=False)  # now fine


async def test_failed_migration_leaves_nothing_behind(empty_db: Database) -> None:
    """``upgrade`` runs in one transaction: a failure half-way rolls back every table."""
    async with empty_db.transaction() as conn:
        await conn.exec_driver_sql("CREATE TABLE outbox (id INTEGER PRIMARY KEY)")
    with pytest.raises(DBAPIError):  # the last table of the migration already exists
        await upgrade(empty_db)
    assert await current_revision(empty_db) is None
    async with empty_db.read() as conn:
        assert await conn.run_sync(_tables) == {"outbox"}


async def test_0007_keeps_transition_notes_internal(empty_db: Database) -> None:
    """Notes written before 0007 were labelled internal: they stay internal. Only staff
    replies and notes explicitly made public were written for the citizen."""
    await upgrade(empty_db, "0006")
    case_id = await make_case(empty_db, NOW)
    old = [
        ("accept", "注意稳控，该户曾越级上访", True),
        ("reply", "请补充材料", True),
        ("note", "已电话联系信访人", True),
        ("note", "内部研判：风险较高", False),
    ]
    async with empty_db.transaction() as conn:
        for kind, note, public in old:
            await conn.execute(
                insert(case_events).values(
                    case_id=case_id, at=NOW, actor="staff:li", kind=kind, note=note, public=public
                )
            )
    await upgrade(empty_db)
    async with empty_db.read() as conn:
        rows = (
            await conn.execute(
                select(case_events.c.kind, case_events.c.message, case_events.c.note)
                .where(case_events.c.kind != "submitted")
                .order_by(case_events.c.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("accept", "", "注意稳控，该户曾越级上访"),
        ("reply", "请补充材料", ""),
        ("note", "已电话联系信访人", ""),
        ("note", "", "内部研判：风险较高"),
    ]
    await downgrade(empty_db, "0006")
    async with empty_db.read() as conn:
        notes = (await conn.execute(select(case_events.c.note).order_by(case_events.c.id))).all()
    assert [r[0] for r in notes] == [note for _, note, _ in old]


async def test_0008_recovers_the_opinions_the_timeline_knows(empty_db: Database) -> None:
    """Decisions taken before 0008 become opinions (decider, date, outcome); only the
    latest text survived in answer_text, the earlier ones are marked as lost."""
    await upgrade(empty_db, "0007")
    case_id = await make_case(
        empty_db, NOW, department="330102-zjj", answer_text="复查：维持原意见"
    )
    async with empty_db.transaction() as conn:
        for minutes, kind, actor, outcome in (
            (1, "answer", "staff:zhang", "explained"),
            (2, "decide_review", "staff:sup", "supported"),
        ):
            await conn.execute(
                insert(case_events).values(
                    case_id=case_id,
                    at=NOW + timedelta(minutes=minutes),
                    actor=actor,
                    kind=kind,
                    data={"outcome": outcome},
                )
            )
    await upgrade(empty_db)
    async with empty_db.read() as conn:
        opinions = await cases.opinions(conn, case_id)
    assert [(o.stage, o.outcome, o.decided_by, o.department) for o in opinions] == [
        ("answer", "explained", "staff:zhang", "330102-zjj"),
        ("review", "supported", "staff:sup", "330102-zjj"),
    ]
    assert opinions[0].text.startswith("（原文已被") and opinions[1].text == "复查：维持原意见"
    assert opinions[1].decided_at == NOW + timedelta(minutes=2)
