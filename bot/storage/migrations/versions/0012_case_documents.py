"""case documents: the office's written notices (受理告知书 … 复核意见书), their 文号 and delivery

``case_documents`` keeps each issued document (its kind, 文号, the data it was issued with,
who issued it and when, the key of its rendered PDF); ``document_numbers`` holds the last
sequence number of each kind and year, taken in the issuing transaction so that numbers
never repeat and have no gaps; ``document_deliveries`` records paper delivery (当面送达 /
邮寄送达) as staff enter it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "case_documents",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("event_id", _ID, nullable=True),
        sa.Column("data", _JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("pdf_key", sa.String(length=256), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_documents_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["case_events.id"], name=op.f("fk_case_documents_event_id_case_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_documents")),
        sa.UniqueConstraint("kind", "year", "seq", name=op.f("uq_case_documents_kind")),
    )
    op.create_index("ix_case_documents_case", "case_documents", ["case_id", "id"])
    op.create_table(
        "document_numbers",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "year", name=op.f("pk_document_numbers")),
    )
    op.create_table(
        "document_deliveries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("document_id", _ID, nullable=False),
        sa.Column("way", sa.String(length=16), nullable=False),
        sa.Column("delivered_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["case_documents.id"],
            name=op.f("fk_document_deliveries_document_id_case_documents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_deliveries")),
    )
    op.create_index("ix_document_deliveries_document", "document_deliveries", ["document_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_document_deliveries_document", table_name="document_deliveries")
    op.drop_table("document_deliveries")
    op.drop_table("document_numbers")
    op.drop_index("ix_case_documents_case", table_name="case_documents")
    op.drop_table("case_documents")
