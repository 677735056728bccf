"""Small dialect bridges the repositories share."""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Table, Text, and_, bindparam, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def insert_ignore(
    conn: AsyncConnection, table: Table, values: dict[str, Any], conflict: list[str]
) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING pk: the new key, or None if it existed.

    On PostgreSQL a conflicting insert waits for a concurrent uncommitted insert of the
    same key to finish, which is what makes de-duplication safe across processes.
    """
    key = tuple(c.name for c in table.primary_key.columns)
    stmt = _insert_ignore(conn.dialect.name, table, tuple(conflict), key)
    return (await conn.execute(stmt, values)).scalar_one_or_none()


async def insert_ignore_many(
    conn: AsyncConnection,
    table: Table,
    rows: list[dict[str, Any]],
    conflict: list[str],
    returning: list[str],
) -> list[Any]:
    """Many rows in one round trip, ON CONFLICT DO NOTHING; the inserted rows' ``returning``.

    Rows that existed are simply absent from the answer (match them by ``returning``).
    Callers pass rows sorted by the conflict key, so that two processes inserting
    overlapping sets on PostgreSQL wait for each other in one order and never deadlock.
    """
    if not rows:
        return []
    stmt = _insert_ignore(conn.dialect.name, table, tuple(conflict), tuple(returning))
    return list((await conn.execute(stmt, rows)).all())


@functools.cache
def _insert_ignore(
    dialect_name: str, table: Table, conflict: tuple[str, ...], returning: tuple[str, ...]
) -> Any:
    # built once per shape: intake runs it for every batch, and building and hashing a
    # statement costs more than executing it
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return (
        dialect.insert(table)
        .on_conflict_do_nothing(index_elements=list(conflict))
        .returning(*(table.c[name] for name in returning))
    )


def json_contains_all(dialect: str, column: Any, values: Collection[str]) -> ColumnElement[bool]:
    """The JSON list in ``column`` holds every one of ``values`` (``dialect``: the engine's)."""
    if dialect == "postgresql":
        contains: ColumnElement[bool] = column.op("?&", is_comparison=True)(
            bindparam(None, list(values), type_=postgresql.ARRAY(Text))
        )
        return contains
    clauses = []
    for value in values:
        each = func.json_each(column).table_valued("value")
        clauses.append(exists(select(1).select_from(each).where(each.c.value == value)))
    return and_(*clauses)
