"""lookup_limits: failed look-ups of other people's cases, per target case and per client

The engine counted failed phone-digit checks in the conversation, so a fresh web-chat
cookie started a fresh count. From here intake counts them in this table, shared by
every session, channel and process, and locks a case's (or a client's) third-party
look-ups for a while once the limit is passed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lookup_limits",
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_lookup_limits")),
    )


def downgrade() -> None:
    op.drop_table("lookup_limits")
