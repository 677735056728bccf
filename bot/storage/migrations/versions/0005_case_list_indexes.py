"""case list at a million cases: a stored tsvector on PostgreSQL, indexes for the list's sorts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# PostgreSQL: the search document's tsvector is stored (computed once per write) instead of
# recomputed by to_tsvector() for every GIN hit the phrase search must recheck. A generated
# column (PostgreSQL >= 12) cannot drift from search_doc.
# https://www.postgresql.org/docs/current/textsearch-tables.html#TEXTSEARCH-TABLES-INDEX
_PG_UP = [
    "ALTER TABLE cases ADD COLUMN search_tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', search_doc)) STORED",
    "DROP INDEX ix_cases_search",
    "CREATE INDEX ix_cases_search ON cases USING gin (search_tsv)",
]
_PG_DOWN = [
    "DROP INDEX ix_cases_search",
    "ALTER TABLE cases DROP COLUMN search_tsv",
    "CREATE INDEX ix_cases_search ON cases USING gin (to_tsvector('simple', search_doc))",
]


# The list's sorts (id breaks ties): the first page walks one of these and stops.
_SORT_INDEXES = {
    "ix_cases_submitted": ["submitted_at", "id"],
    "ix_cases_updated": ["updated_at", "id"],
    "ix_cases_due": ["due_at", "id"],
    "ix_cases_status": ["status", "id"],
}


def upgrade() -> None:
    for name, columns in _SORT_INDEXES.items():
        op.create_index(name, "cases", columns)
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_DOWN:
            op.execute(statement)
    for name in _SORT_INDEXES:
        op.drop_index(name, table_name="cases")
