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


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_DOWN:
            op.execute(statement)
