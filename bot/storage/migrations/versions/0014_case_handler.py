"""case_handler: the named handler (承办人) of a case, a staff login of its lead department

Cases were worked by a department as a whole; "我的待办" needs the person. The column holds
the handler's login ('' = no named handler yet: the department's shared queue), indexed
with the status for the handler's own open cases.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN, not batch mode: SQLite (>= 3.35) changes the table in place,
# while copying it would trip the foreign keys that point at cases.
def upgrade() -> None:
    op.add_column("cases", sa.Column("handler", sa.String(64), nullable=False, server_default=""))
    op.create_index("ix_cases_handler_status", "cases", ["handler", "status"])


def downgrade() -> None:
    op.drop_index("ix_cases_handler_status", table_name="cases")
    op.drop_column("cases", "handler")
