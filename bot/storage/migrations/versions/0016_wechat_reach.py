"""wechat_reach: subscription-notification consent, QR scenes, template delivery reports

- ``wechat_consents``: per openid and 订阅通知 template, whether the citizen gave long-term
  consent and how many one-time consents are left (each allows one message); the
  CreateTime of the last consent event counted, so that WeChat's retry of it is not.
- ``contacts.scene``: the parametric QR code a WeChat follower came from (a hall poster).
- ``outbox.receipt``: the platform's own delivery report of a sent message
  (TEMPLATESENDJOBFINISH), looked up by the message id kept in ``external_id``.

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-06 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wechat_consents",
        sa.Column("openid", sa.String(128), nullable=False),
        sa.Column("template_id", sa.String(128), nullable=False),
        sa.Column("long_term", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("remaining", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_event", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("openid", "template_id", name=op.f("pk_wechat_consents")),
    )
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("scene", sa.String(64), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("receipt", sa.String(16), nullable=True))
    op.create_index("ix_outbox_external", "outbox", ["channel", "external_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_external", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("receipt")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("scene")
    op.drop_table("wechat_consents")
