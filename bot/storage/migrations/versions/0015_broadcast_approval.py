"""broadcast approval and scheduling: a broadcast to everyone waits for a second account,
and any broadcast may be queued at a later time

New columns of ``broadcasts``: ``scheduled_at`` (queued by the service's scheduler at that
time; empty: at once), ``decided_by`` and ``decided_at`` (the second account that approved
or rejected it). Two new statuses use the existing column: ``awaiting`` (approval) and
``scheduled``; ``rejected`` ends a broadcast that was never queued.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("scheduled_at", _TS, nullable=True))
        batch.add_column(sa.Column("decided_by", sa.String(64), server_default="", nullable=False))
        batch.add_column(sa.Column("decided_at", _TS, nullable=True))
    op.create_index("ix_broadcasts_status_scheduled", "broadcasts", ["status", "scheduled_at"])


def downgrade() -> None:
    op.drop_index("ix_broadcasts_status_scheduled", table_name="broadcasts")
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("decided_at")
        batch.drop_column("decided_by")
        batch.drop_column("scheduled_at")
