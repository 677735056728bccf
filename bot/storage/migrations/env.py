"""Alembic environment: runs on a connection handed over by :mod:`bot.storage.migrate`."""

from __future__ import annotations

from alembic import context

from bot.storage.tables import in_metadata, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `xinfang migrate`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite has no ALTER for most changes
    compare_type=True,
    include_name=in_metadata,
)
with context.begin_transaction():
    context.run_migrations()
