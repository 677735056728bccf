"""wechat_unconfirmed: subscription notifications whose bizsend answer was lost

A bizsend that timed out after the request left may have been delivered; bizsend has no
client_msg_id, so sending again could notify the citizen twice. The row waits for
WeChat's subscribe_msg_sent_event to say whether it went out.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wechat_unconfirmed",
        sa.Column("outbox_id", _ID, nullable=False),
        sa.Column("openid", sa.String(length=128), nullable=False),
        sa.Column("template_id", sa.String(length=128), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("msgid", sa.String(length=64), nullable=True),
        sa.Column("receipt", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_wechat_unconfirmed")),
    )
    op.create_index(
        "ix_wechat_unconfirmed_citizen", "wechat_unconfirmed", ["openid", "template_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_wechat_unconfirmed_citizen", table_name="wechat_unconfirmed")
    op.drop_table("wechat_unconfirmed")
