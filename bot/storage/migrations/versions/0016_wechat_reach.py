"""wechat_reach: subscription-notification consent, QR scenes, template delivery reports

- ``wechat_consents``: per openid and 订阅通知 template, whether the citizen gave long-term
  consent and how many one-time consents are left (each allows one message); the
  CreateTime of the last consent event counted, so that WeChat's retry of it is not.
- ``wechat_scenes``: the parametric QR code a WeChat contact last came through (a hall
  poster), one row per contact.
- ``outbox.receipt``: the platform's own delivery report of a sent message
  (TEMPLATESENDJOBFINISH), looked up by the message id kept in ``external_id``.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


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
    op.create_table(
        "wechat_scenes",
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("scene", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_wechat_scenes_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_wechat_scenes")),
    )
    # in place, not batch mode (a copy of outbox would trip the foreign keys); the index
    # on (channel, external_id) that finds a report's row comes with 0013
    op.add_column("outbox", sa.Column("receipt", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "receipt")
    op.drop_table("wechat_scenes")
    op.drop_table("wechat_consents")
