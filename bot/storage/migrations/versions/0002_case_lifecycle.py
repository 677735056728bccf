"""case lifecycle: departments, clocks, answers, ratings, reviews, linked cases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("department", sa.String(length=32), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("co_departments", _JSON, nullable=True))
        batch_op.add_column(
            sa.Column("transferred_to", sa.String(length=100), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("answer_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("extensions", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("answer_text", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(
            sa.Column("answer_outcome", sa.String(length=16), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("request_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("rating", sa.String(length=24), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("rating_comment", sa.Text(), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("linked_to", _ID, nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_cases_linked_to_cases"), "cases", ["linked_to"], ["id"]
        )
        batch_op.create_index("ix_cases_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_cases_department_status", ["department", "status"], unique=False)
        batch_op.create_index("ix_cases_linked_to", ["linked_to"], unique=False)

    op.create_table(
        "case_links",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("other_case_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("score", sa.Float(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_links_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["other_case_id"], ["cases.id"], name=op.f("fk_case_links_other_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_links")),
        sa.UniqueConstraint("case_id", "other_case_id", name=op.f("uq_case_links_case_id")),
    )
    with op.batch_alter_table("case_links", schema=None) as batch_op:
        batch_op.create_index("ix_case_links_other", ["other_case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_links", schema=None) as batch_op:
        batch_op.drop_index("ix_case_links_other")
    op.drop_table("case_links")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_linked_to")
        batch_op.drop_index("ix_cases_department_status")
        batch_op.drop_index("ix_cases_status_due")
        batch_op.drop_constraint(op.f("fk_cases_linked_to_cases"), type_="foreignkey")
        for column in (
            "linked_to",
            "rated_at",
            "rating_comment",
            "rating",
            "closed_at",
            "request_until",
            "answer_outcome",
            "answer_text",
            "answered_at",
            "extensions",
            "answer_due_at",
            "accepted_at",
            "transferred_to",
            "co_departments",
            "department",
        ):
            batch_op.drop_column(column)
