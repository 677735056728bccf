"""attachments: whose file it is (the petitioner's materials or the office's own), and
whether staff made an office file part of a document the petitioner receives

Staff now register petitions that came by letter, visit or phone, with scans of the
letter and the petitioner's materials (``origin`` "petitioner", as every file before),
and upload the office's own files on a case page: investigation materials and signed
opinions (``origin`` "staff"). An office file reaches the petitioner only when staff
mark it ``in_document``; ``uploaded_by`` names the staff login that uploaded a file.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN, not batch mode: SQLite (>= 3.35) changes the table in place,
# while copying it would trip the foreign keys that point at attachments' neighbours.
def upgrade() -> None:
    op.add_column(
        "attachments",
        sa.Column("origin", sa.String(16), server_default="petitioner", nullable=False),
    )
    op.add_column(
        "attachments", sa.Column("in_document", sa.Boolean(), server_default="0", nullable=False)
    )
    op.add_column(
        "attachments", sa.Column("uploaded_by", sa.String(64), server_default="", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("attachments", "uploaded_by")
    op.drop_column("attachments", "in_document")
    op.drop_column("attachments", "origin")
