"""case events: what the petitioner was told (message) apart from internal notes (note)

Before, one ``note`` column held both: the console labelled it internal, yet status
answers showed it to citizens. From here ``note`` is never shown to a citizen. Staff
replies and notes explicitly marked public were written for the citizen: their text
moves to ``message``. Every other transition note stays an internal note.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TOLD = "kind = 'reply' OR (kind = 'note' AND public)"


def upgrade() -> None:
    with op.batch_alter_table("case_events") as batch:
        batch.add_column(sa.Column("message", sa.Text(), nullable=False, server_default=""))
    op.get_bind().exec_driver_sql(f"UPDATE case_events SET message = note, note = '' WHERE {_TOLD}")


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "UPDATE case_events SET note = message WHERE message <> '' AND note = ''"
    )
    with op.batch_alter_table("case_events") as batch:
        batch.drop_column("message")
