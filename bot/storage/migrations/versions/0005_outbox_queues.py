"""outbox queues: partial indexes the claim walks in id order, and a chat's unsettled rows

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# the same text as bot/storage/tables.py (copied: a migration must not change later)
_QUEUE = "kind <> 'broadcast'"
_BROADCAST_QUEUE = "kind = 'broadcast'"
_ACTIVE = "status IN ('pending', 'sending')"

_INDEXES = (
    ("ix_outbox_queue", ["status", "id"], _QUEUE),
    ("ix_outbox_broadcast_queue", ["status", "id"], _BROADCAST_QUEUE),
    ("ix_outbox_active", ["contact_id", "id"], _ACTIVE),
)


def upgrade() -> None:
    for name, columns, where in _INDEXES:
        op.create_index(
            name,
            "outbox",
            columns,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    for name, _columns, _where in reversed(_INDEXES):
        op.drop_index(name, table_name="outbox")
