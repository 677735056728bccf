"""Engine creation and write transactions for SQLite (aiosqlite, WAL) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from bot.storage.sqlite_inline import inline_creator

SQLITE_BUSY_TIMEOUT_MS = 30_000
_READONLY = "xinfang_readonly"


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    # We issue BEGIN ourselves (see _sqlite_begin): stop the driver's implicit BEGIN.
    # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # WAL + FULL: the WAL is fsynced at every commit, so an acknowledged message survives a
    # power loss too. Affordable because intake commits many messages at once (group commit).
    # https://www.sqlite.org/pragma.html#pragma_synchronous
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers BEGIN IMMEDIATE: the write lock is taken up front, so two processes (serve
    # and chat) never deadlock upgrading read locks; busy_timeout makes the second wait.
    # Readers BEGIN DEFERRED: in WAL mode they never block, nor are blocked by, a writer.
    readonly = conn.get_execution_options().get(_READONLY, False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


class Database:
    """One async engine plus the dialect knowledge the repositories need."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        # where write transactions run: on SQLite a second engine whose statements run on
        # the event-loop thread (bot/storage/sqlite_inline.py); reads keep the driver's
        # thread, so a long console query never stalls the loop
        self._writer = self.engine
        if self.dialect == "sqlite":
            file = parsed.database
            if file and file != ":memory:" and not file.startswith("file:"):
                self._writer = create_async_engine(
                    url,
                    **kwargs,
                    async_creator=inline_creator(file, SQLITE_BUSY_TIMEOUT_MS / 1000),
                )
            for engine in {self.engine, self._writer}:
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
                event.listen(engine.sync_engine, "begin", _sqlite_begin)
        # SQLite has one writer at a time: writers of this process queue here, in order,
        # instead of polling the file lock with busy_timeout's sleeps. (Other processes,
        # e.g. `xinfang chat` next to `serve`, still meet at the file lock.)
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    @property
    def max_writers(self) -> int:
        """How many write transactions of this process are worth running at once."""
        # PostgreSQL: two transactions in flight hide each other's round trips; more only
        # split the queue into smaller batches, each paying the per-transaction cost
        # (measured: 2 gave 10% more throughput and 20% less CPU per message than 4)
        return 1 if self._write_lock is not None else 2

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL (row locks and SKIP LOCKED available)."""
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed on success, rolled back on any exception."""
        if self._write_lock is None:
            async with self._writer.begin() as conn:
                yield conn
            return
        async with self._write_lock, self._writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (still a transaction on SQLite, which is cheap in WAL)."""
        async with self.engine.connect() as conn:
            await conn.execution_options(**{_READONLY: True})
            yield conn

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        """Close all pooled connections."""
        await self.engine.dispose()
        if self._writer is not self.engine:
            await self._writer.dispose()
