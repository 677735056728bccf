"""search: personal data in its own document, searched only by staff with case.pii

``cases.search_doc`` held the name, address and numbers written in the free text next to
the petition's words, so a viewer (who sees them masked) could test guesses with queries.
From here ``search_doc`` is what every staff member may search (the tracking number and
its digit suffixes, the free text without mobile and ID-card numbers) and the new
``search_pii`` the personal data (name, address, representatives, phone numbers and the
numbers taken out of the free text, also reversed so that their ends can be searched).
Both are rebuilt for every case. SQLite: ``cases_fts`` gets both as columns; PostgreSQL:
``search_tsv`` weights search_doc A and search_pii B.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bot.domain.search import case_pii_doc, case_search_doc

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_BATCH = 1000


def _sqlite_fts(columns: str) -> list[str]:
    """The external-content FTS5 table over ``columns`` of cases, and its triggers."""
    new = ", ".join(f"new.{c}" for c in columns.split(", "))
    old = ", ".join(f"old.{c}" for c in columns.split(", "))
    return [
        f"CREATE VIRTUAL TABLE cases_fts USING fts5({columns}, "
        "content='cases', content_rowid='id', tokenize='unicode61')",
        "CREATE TRIGGER cases_fts_ai AFTER INSERT ON cases BEGIN "
        f"INSERT INTO cases_fts(rowid, {columns}) VALUES (new.id, {new}); END",
        "CREATE TRIGGER cases_fts_ad AFTER DELETE ON cases BEGIN "
        f"INSERT INTO cases_fts(cases_fts, rowid, {columns}) "
        f"VALUES ('delete', old.id, {old}); END",
        f"CREATE TRIGGER cases_fts_au AFTER UPDATE OF {columns} ON cases BEGIN "
        f"INSERT INTO cases_fts(cases_fts, rowid, {columns}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO cases_fts(rowid, {columns}) VALUES (new.id, {new}); END",
        "INSERT INTO cases_fts(cases_fts) VALUES ('rebuild')",
    ]


_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS cases_fts_ai",
    "DROP TRIGGER IF EXISTS cases_fts_ad",
    "DROP TRIGGER IF EXISTS cases_fts_au",
    "DROP TABLE IF EXISTS cases_fts",
]
_PG_DROP = ["DROP INDEX ix_cases_search", "ALTER TABLE cases DROP COLUMN search_tsv"]


def _pg_tsv(expression: str) -> list[str]:
    return [
        f"ALTER TABLE cases ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS ({expression}) "
        "STORED",
        "CREATE INDEX ix_cases_search ON cases USING gin (search_tsv)",
    ]


_PG_WEIGHTED = (
    "setweight(to_tsvector('simple', search_doc), 'A') || "
    "setweight(to_tsvector('simple', search_pii), 'B')"
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_DROP if sqlite else _PG_DROP:
        op.execute(statement)
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("search_pii", sa.Text(), server_default="", nullable=False))
    _rebuild_documents()
    for statement in _sqlite_fts("search_doc, search_pii") if sqlite else _pg_tsv(_PG_WEIGHTED):
        op.execute(statement)


def _rebuild_documents() -> None:
    bind = op.get_bind()
    cases = sa.table(
        "cases",
        sa.column("id", _ID),
        sa.column("tracking_no", sa.String()),
        sa.column("phone", sa.String()),
        sa.column("answers", _JSON),
        sa.column("search_doc", sa.Text()),
        sa.column("search_pii", sa.Text()),
    )
    update = (
        sa.update(cases)
        .where(cases.c.id == sa.bindparam("case_id"))
        .values(search_doc=sa.bindparam("doc"), search_pii=sa.bindparam("pii"))
    )
    query = sa.select(cases.c.id, cases.c.tracking_no, cases.c.phone, cases.c.answers)
    rows = bind.execute(query.order_by(cases.c.id)).all()
    for start in range(0, len(rows), _BATCH):
        batch = [
            {
                "case_id": row.id,
                "doc": case_search_doc(row.answers or {}, row.tracking_no),
                "pii": case_pii_doc(row.answers or {}, row.phone or ""),
            }
            for row in rows[start : start + _BATCH]
        ]
        bind.execute(update, batch)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_DROP if sqlite else _PG_DROP:
        op.execute(statement)
    # one document again, holding everything (as before this revision)
    op.execute("UPDATE cases SET search_doc = search_doc || ' ' || search_pii")
    # not batch mode: SQLite (>= 3.35) drops the column in place; copying the table would
    # trip the foreign keys that point at cases
    op.execute("ALTER TABLE cases DROP COLUMN search_pii")
    if sqlite:
        for statement in _sqlite_fts("search_doc"):
            op.execute(statement)
    else:
        for statement in _pg_tsv("to_tsvector('simple', search_doc)"):
            op.execute(statement)
