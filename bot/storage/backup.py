"""`xinfang backup PATH`: a consistent copy of the SQLite database while the bot runs.

SQLite's online backup API copies the database page by page and restarts when a writer
changes a page it already copied, so the copy is a consistent snapshot even with `serve`
writing (https://www.sqlite.org/backup.html). PostgreSQL is backed up with its own tools
(pg_dump / pg_restore; see docs/deploy.md).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

PAGES_PER_STEP = 1024  # writers get the database between steps


class BackupError(Exception):
    """The backup could not be made; the message says why and what to do."""


def sqlite_path(database_url: str) -> Path:
    """The file of an SQLite URL (BackupError for other databases)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            "the database is PostgreSQL: back it up with pg_dump, e.g. "
            'pg_dump --format=custom --file=xinfang.dump "$DATABASE" (see docs/deploy.md)'
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(url.database)


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy ``source`` to ``target`` (which must not exist) online; returns its page count."""
    if not source.exists():
        raise BackupError(f"{source} does not exist")
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst, pages=PAGES_PER_STEP)
        dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the copy failed its integrity check: {check}")
        pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
    finally:
        dst.close()
        src.close()
    os.replace(partial, target)
    return pages
