"""case departments: one row per lead / co-handling department, for the staff list's scope

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_LEAD = (
    "INSERT INTO case_departments (department, case_id, role) "
    "SELECT department, id, 'lead' FROM cases WHERE department <> ''"
)
_CO = {
    "sqlite": (
        "INSERT INTO case_departments (department, case_id, role) "
        "SELECT DISTINCT j.value, c.id, 'co' FROM cases c, json_each(c.co_departments) j "
        "WHERE j.type = 'text' AND j.value <> '' AND j.value <> c.department"
    ),
    "postgresql": (
        "INSERT INTO case_departments (department, case_id, role) "
        "SELECT DISTINCT j.value, c.id, 'co' FROM cases c, "
        "jsonb_array_elements_text(c.co_departments) AS j(value) "
        "WHERE jsonb_typeof(c.co_departments) = 'array' "
        "AND j.value <> '' AND j.value <> c.department"
    ),
}


def upgrade() -> None:
    op.create_table(
        "case_departments",
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_departments_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("department", "case_id", name=op.f("pk_case_departments")),
    )
    op.create_index("ix_case_departments_case", "case_departments", ["case_id"])
    bind = op.get_bind()
    bind.exec_driver_sql(_LEAD)
    bind.exec_driver_sql(_CO[bind.dialect.name])


def downgrade() -> None:
    op.drop_index("ix_case_departments_case", table_name="case_departments")
    op.drop_table("case_departments")
