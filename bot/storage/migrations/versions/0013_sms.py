"""sms: delivery receipts of sent messages, and the mobile a citizen confirmed

delivery_receipts: what the SMS provider's delivery receipt (回执) said of a sent outbox
row (delivered or undelivered, with the carrier's code), found by the provider's serial
number (outbox.external_id, now indexed per channel). contact_phones: the mobile a citizen
confirmed by an SMS code on their case page (/my), which then lists every case filed with
that number. New tables, so that code reading contacts and outbox at older revisions
(migration tests) is unaffected.

Revision ID: 0013
Revises: 0012 (after main's help requests; the revision id is this branch's)
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_index("ix_outbox_external", "outbox", ["channel", "external_id"])
    op.create_table(
        "delivery_receipts",
        sa.Column("outbox_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=200), server_default="", nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_delivery_receipts_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_delivery_receipts")),
    )
    op.create_table(
        "contact_phones",
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_phones_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_phones")),
    )


def downgrade() -> None:
    op.drop_table("contact_phones")
    op.drop_table("delivery_receipts")
    op.drop_index("ix_outbox_external", table_name="outbox")
