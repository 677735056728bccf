"""sms: delivery receipts on outbox rows, and a citizen's confirmed mobile

outbox.receipt / receipt_at: what the SMS provider's delivery receipt (回执) said of a
sent row ("delivered" or "undelivered"), found by the provider's serial number
(external_id, indexed per channel). contacts.verified_phone: the mobile a citizen
confirmed by an SMS code on their case page (/my), which then lists every case filed with
that number.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("receipt", sa.String(16), nullable=True))
        batch.add_column(sa.Column("receipt_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_outbox_external", "outbox", ["channel", "external_id"])
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("verified_phone", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("verified_phone")
    op.drop_index("ix_outbox_external", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("receipt_at")
        batch.drop_column("receipt")
