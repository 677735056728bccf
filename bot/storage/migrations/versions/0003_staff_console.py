"""staff console: accounts, sessions, API tokens, audit log, broadcasts, case search

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bot.domain.search import case_search_doc

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TS = sa.DateTime(timezone=True)

# SQLite: an external-content FTS5 index over cases.search_doc, kept in step by triggers.
# https://www.sqlite.org/fts5.html#external_content_tables
_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE cases_fts USING fts5("
    "search_doc, content='cases', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER cases_fts_ai AFTER INSERT ON cases BEGIN "
    "INSERT INTO cases_fts(rowid, search_doc) VALUES (new.id, new.search_doc); END",
    "CREATE TRIGGER cases_fts_ad AFTER DELETE ON cases BEGIN "
    "INSERT INTO cases_fts(cases_fts, rowid, search_doc) "
    "VALUES ('delete', old.id, old.search_doc); END",
    "CREATE TRIGGER cases_fts_au AFTER UPDATE OF search_doc ON cases BEGIN "
    "INSERT INTO cases_fts(cases_fts, rowid, search_doc) "
    "VALUES ('delete', old.id, old.search_doc); "
    "INSERT INTO cases_fts(rowid, search_doc) VALUES (new.id, new.search_doc); END",
]
_PG_SEARCH_INDEX = (
    "CREATE INDEX ix_cases_search ON cases USING gin (to_tsvector('simple', search_doc))"
)


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", _ID, nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), server_default="", nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("departments", _JSON, nullable=False),
        sa.Column("lang", sa.String(length=8), server_default="zh", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", _TS, nullable=True),
        sa.Column("password_changed_at", _TS, nullable=False),
        sa.Column("last_login_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("login", name=op.f("uq_staff_login")),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", _ID, nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_staff_sessions_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_staff_sessions")),
    )
    op.create_index("ix_staff_sessions_staff", "staff_sessions", ["staff_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", _ID, nullable=False),
        sa.Column("staff_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_api_tokens_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("staff_id", _ID, nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("case_id", _ID, nullable=True),
        sa.Column("target", sa.String(length=128), server_default="", nullable=False),
        sa.Column("detail", _JSON, nullable=True),
        sa.Column("ip", sa.String(length=64), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_audit_log_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_audit_log_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_case", "audit_log", ["case_id", "id"])
    op.create_index("ix_audit_log_staff", "audit_log", ["staff_id", "id"])
    op.create_table(
        "broadcasts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("audience", _JSON, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("cancelled_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("broadcast_id", _ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_broadcast_id_broadcasts"), "broadcasts", ["broadcast_id"], ["id"]
        )
        batch_op.create_index("ix_outbox_broadcast", ["broadcast_id", "status"])
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("broadcast_opt_out", sa.Boolean(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_doc", sa.Text(), server_default="", nullable=False))
    _backfill_search_docs()
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_FTS:
            op.execute(statement)
        op.execute("INSERT INTO cases_fts(cases_fts) VALUES ('rebuild')")
    else:
        op.execute(_PG_SEARCH_INDEX)


def _backfill_search_docs() -> None:
    bind = op.get_bind()
    cases = sa.table(
        "cases",
        sa.column("id", _ID),
        sa.column("tracking_no", sa.String()),
        sa.column("answers", _JSON),
        sa.column("search_doc", sa.Text()),
    )
    rows = bind.execute(sa.select(cases.c.id, cases.c.tracking_no, cases.c.answers)).all()
    for row in rows:
        doc = case_search_doc(row.answers or {}, row.tracking_no)
        bind.execute(sa.update(cases).where(cases.c.id == row.id).values(search_doc=doc))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("cases_fts_ai", "cases_fts_ad", "cases_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS cases_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_cases_search")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("search_doc")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("broadcast_opt_out")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_broadcast")
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_broadcast_id_broadcasts"), type_="foreignkey"
        )
        batch_op.drop_column("broadcast_id")
    op.drop_table("broadcasts")
    op.drop_index("ix_audit_log_staff", table_name="audit_log")
    op.drop_index("ix_audit_log_case", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
    op.drop_index("ix_staff_sessions_staff", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_table("staff")
