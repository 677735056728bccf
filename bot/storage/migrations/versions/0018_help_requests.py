"""help_requests: citizens who asked for a person ("转人工"), listed for staff

The conversation answered "转人工" with the hotline only; staff never saw who asked.
From here each request is kept (one open request per contact, counting repeats) until
staff mark it handled.

Revision ID: 0018
Revises: 0010
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "help_requests",
        sa.Column("id", _ID, nullable=False),
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=True),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("in_form", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("times", sa.Integer(), server_default="1", nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handled_by", sa.String(length=64), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_help_requests_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_help_requests_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_requests")),
    )
    op.create_index("ix_help_requests_open", "help_requests", ["handled_at", "asked_at"])
    op.create_index("ix_help_requests_contact", "help_requests", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_help_requests_contact", table_name="help_requests")
    op.drop_index("ix_help_requests_open", table_name="help_requests")
    op.drop_table("help_requests")
