"""staff credentials: forced password change, API token scope, and a public search document
without the petitioner's own name and address

* ``staff.must_change_password``: set by an administrator's reset; the account may do
  nothing but choose a new password until it has.
* ``api_tokens.scope``: ``read`` (every mutating API route answers 403) or ``write``.
  Tokens issued before this revision get ``write`` and keep their expiry (none unless one
  was given), so integrations keep working until they are reissued.
* ``cases.search_doc`` is rebuilt: a petition's free text no longer indexes the
  petitioner's own name, address or representatives (they are in ``search_pii``, which
  only roles with personal-data access search).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bot.domain.search import case_search_doc

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_BATCH = 1000


def upgrade() -> None:
    op.add_column(
        "staff",
        sa.Column("must_change_password", sa.Boolean(), server_default="0", nullable=False),
    )
    op.add_column(
        "api_tokens",
        sa.Column("scope", sa.String(8), server_default="write", nullable=False),
    )
    _rebuild_public_documents()


def _rebuild_public_documents() -> None:
    bind = op.get_bind()
    cases = sa.table(
        "cases",
        sa.column("id", _ID),
        sa.column("tracking_no", sa.String()),
        sa.column("answers", _JSON),
        sa.column("search_doc", sa.Text()),
    )
    update = (
        sa.update(cases)
        .where(cases.c.id == sa.bindparam("case_id"))
        .values(search_doc=sa.bindparam("doc"))
    )
    last = 0
    while True:
        query = (
            sa.select(cases.c.id, cases.c.tracking_no, cases.c.answers)
            .where(cases.c.id > last)
            .order_by(cases.c.id)
            .limit(_BATCH)
        )
        rows = bind.execute(query).all()
        if not rows:
            return
        batch = [
            {"case_id": r.id, "doc": case_search_doc(r.answers or {}, r.tracking_no)} for r in rows
        ]
        bind.execute(update, batch)
        last = rows[-1].id


def downgrade() -> None:
    # not batch mode: SQLite (>= 3.35) drops a column in place; copying the table would
    # trip the foreign keys that point at it. The rebuilt search documents stay (narrower).
    op.execute("ALTER TABLE api_tokens DROP COLUMN scope")
    op.execute("ALTER TABLE staff DROP COLUMN must_change_password")
