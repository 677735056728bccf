"""An aiosqlite connection whose statements run on the event-loop thread.

aiosqlite runs every call (cursor, execute, fetch, close) on its own thread: each is a
queue put, a cross-thread wake-up and a GIL hand-over, and a SQLAlchemy statement is
three or four of them. For the short statements of a write transaction that overhead
is most of the cost (docs/benchmarks.md). Here only the calls that can wait stay on the
driver's thread: ``BEGIN`` (waits for another process's write lock, up to busy_timeout)
and ``COMMIT``/``ROLLBACK`` (the fsync). Everything in between runs inline; inside
``BEGIN IMMEDIATE`` on a WAL database it never waits for a lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite

ITER_CHUNK_SIZE = 64  # aiosqlite's default


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's Connection with statements inline and BEGIN/COMMIT on its thread."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        conn = self._connection
        if not self._running or conn is None:
            raise ValueError("Connection closed")
        if fn == conn.commit or fn == conn.rollback or _begins(args):
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        return fn(*args, **kwargs)


def _begins(args: tuple[Any, ...]) -> bool:
    return bool(args) and isinstance(args[0], str) and args[0].lstrip()[:5].upper() == "BEGIN"


def inline_creator(database: str, timeout: float) -> Callable[[], InlineConnection]:
    """An ``async_creator`` for SQLAlchemy: connections to ``database`` as above.

    ``check_same_thread=False`` because the loop thread and the driver's thread take
    turns on the connection; SQLAlchemy's adapter never lets two calls overlap.
    """

    def create() -> InlineConnection:
        connector = partial(sqlite3.connect, database, timeout=timeout, check_same_thread=False)
        return InlineConnection(connector, ITER_CHUNK_SIZE)

    return create
