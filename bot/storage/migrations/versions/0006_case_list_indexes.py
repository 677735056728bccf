"""case list at a million cases: indexes for its sorts and filters, a stored tsvector

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 11:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The list's sorts (id breaks ties): a page of common matches walks one of these and stops.
# Region and category: filters that keep few cases (with a date range, or alone).
_INDEXES = {
    "ix_cases_submitted": ["submitted_at", "id"],
    "ix_cases_updated": ["updated_at", "id"],
    "ix_cases_due": ["due_at", "id"],
    "ix_cases_status": ["status", "id"],
    "ix_cases_region": ["region", "submitted_at"],
    "ix_cases_category": ["category", "submitted_at"],
}

_PG_UP = [
    # PostgreSQL reads (due_at, id) backwards as DESC NULLS FIRST; "latest deadline first,
    # no deadline last" needs its own index (SQLite reads its one index both ways).
    "CREATE INDEX ix_cases_due_desc ON cases (due_at DESC NULLS LAST, id DESC)",
    # The search document's tsvector is stored (computed once per write) instead of
    # recomputed by to_tsvector() for every GIN hit a phrase search must recheck. A
    # generated column (PostgreSQL >= 12) cannot drift from search_doc.
    # https://www.postgresql.org/docs/current/textsearch-tables.html#TEXTSEARCH-TABLES-INDEX
    "ALTER TABLE cases ADD COLUMN search_tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', search_doc)) STORED",
    "DROP INDEX ix_cases_search",
    "CREATE INDEX ix_cases_search ON cases USING gin (search_tsv)",
]
_PG_DOWN = [
    "DROP INDEX ix_cases_search",
    "ALTER TABLE cases DROP COLUMN search_tsv",
    "CREATE INDEX ix_cases_search ON cases USING gin (to_tsvector('simple', search_doc))",
    "DROP INDEX ix_cases_due_desc",
]


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(name, "cases", columns)
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_DOWN:
            op.execute(statement)
    for name in _INDEXES:
        op.drop_index(name, table_name="cases")
