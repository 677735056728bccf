"""case opinions: every 处理意见, 复查意见 and 复核意见 kept, none overwritten

Before, each decision replaced ``cases.answer_text``. The decisions already taken are
recovered from the timeline (decider, date, outcome); only the latest one's text still
exists (in ``answer_text``): earlier texts were overwritten and are recorded as lost.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:30:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_STAGE = {"answer": "answer", "decide_review": "review", "decide_recheck": "recheck"}
LOST = "（原文已被后来的决定覆盖，无法恢复）"


def upgrade() -> None:
    op.create_table(
        "case_opinions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=32), server_default="", nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_opinions_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_opinions")),
    )
    op.create_index("ix_case_opinions_case", "case_opinions", ["case_id", "id"])
    bind = op.get_bind()
    rows = bind.exec_driver_sql(
        "SELECT e.case_id, e.kind, e.actor, e.at, e.data, c.answer_text, c.department "
        "FROM case_events e JOIN cases c ON c.id = e.case_id "
        "WHERE e.kind IN ('answer', 'decide_review', 'decide_recheck') "
        "ORDER BY e.case_id, e.id"
    ).all()
    last = {row[0]: i for i, row in enumerate(rows)}  # each case's latest decision
    opinions = []
    for i, (case_id, kind, actor, at, data, answer_text, department) in enumerate(rows):
        if isinstance(data, str):
            data = json.loads(data)
        opinions.append(
            {
                "case_id": case_id,
                "stage": _STAGE[kind],
                "outcome": str((data or {}).get("outcome") or ""),
                "text": answer_text if last[case_id] == i else LOST,
                "decided_by": actor,
                "department": department or "",
                "decided_at": at,
            }
        )
    if opinions:
        table = sa.table(
            "case_opinions",
            *(sa.column(name) for name in opinions[0]),
        )
        op.bulk_insert(table, opinions)


def downgrade() -> None:
    op.drop_index("ix_case_opinions_case", table_name="case_opinions")
    op.drop_table("case_opinions")
