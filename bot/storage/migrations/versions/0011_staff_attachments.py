"""attachments: whose file it is (the petitioner's materials or the office's own), and
whether staff made an office file part of a document the petitioner receives

Staff now register petitions that came by letter, visit or phone, with scans of the
letter and the petitioner's materials (``origin`` "petitioner", as every file before),
and upload the office's own files on a case page: investigation materials and signed
opinions (``origin`` "staff"). An office file reaches the petitioner only when staff
mark it ``in_document``; ``uploaded_by`` names the staff login that uploaded a file.

Revision ID: 0011
Revises: 0014
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.add_column(
            sa.Column("origin", sa.String(16), server_default="petitioner", nullable=False)
        )
        batch.add_column(sa.Column("in_document", sa.Boolean(), server_default="0", nullable=False))
        batch.add_column(sa.Column("uploaded_by", sa.String(64), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.drop_column("uploaded_by")
        batch.drop_column("in_document")
        batch.drop_column("origin")
