"""case_handler: the named handler (承办人) of a case, a staff login of its lead department

Cases were worked by a department as a whole; "我的待办" needs the person. The column holds
the handler's login ('' = no named handler yet: the department's shared queue), indexed
with the status for the handler's own open cases.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-06 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("handler", sa.String(64), nullable=False, server_default=""))
    op.create_index("ix_cases_handler_status", "cases", ["handler", "status"])


def downgrade() -> None:
    op.drop_index("ix_cases_handler_status", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("handler")
