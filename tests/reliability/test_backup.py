"""`xinfang backup PATH`: an online, consistent copy of the SQLite database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from bot.storage.db import Database
from bot.storage.migrate import current_revision, head_revision, upgrade


def xinfang(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """Run the command line as an operator would."""
    env = {**os.environ, "XINFANG_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True, timeout=120
    )


def add_contacts(path: Path, start: int, count: int) -> None:
    conn = sqlite3.connect(path, timeout=30)
    for n in range(start, start + count):
        with conn:
            conn.execute(
                "INSERT INTO contacts (channel, address, created_at) VALUES (?, ?, ?)",
                ("web", f"addr-{n}", "2026-11-23 01:30:00"),
            )
    conn.close()


async def test_backup_while_writing_is_a_consistent_copy(tmp_path: Path) -> None:
    source = tmp_path / "xinfang.sqlite3"
    db = Database(f"sqlite+aiosqlite:///{source}")
    await upgrade(db)
    await db.dispose()
    add_contacts(source, 0, 500)
    url = f"sqlite+aiosqlite:///{source}"

    writer = threading.Thread(target=add_contacts, args=(source, 500, 500))
    writer.start()
    target = tmp_path / "backups" / "xinfang-1.sqlite3"
    done = xinfang("backup", str(target), database_url=url)
    writer.join()
    assert done.returncode == 0, done.stderr
    assert "integrity ok" in done.stdout

    copy = sqlite3.connect(target)
    (copied,) = copy.execute("SELECT count(*) FROM contacts").fetchone()
    (check,) = copy.execute("PRAGMA integrity_check").fetchone()
    copy.close()
    assert check == "ok" and 500 <= copied <= 1000
    restored = Database(f"sqlite+aiosqlite:///{target}")  # a backup opens as a database
    assert await current_revision(restored) == head_revision()
    await restored.dispose()

    # never overwrites, and says why
    again = xinfang("backup", str(target), database_url=url)
    assert again.returncode == 2 and "exists" in again.stderr


def test_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    done = xinfang("backup", str(tmp_path / "x"), database_url="postgresql+asyncpg://u@h/x")
    assert done.returncode == 2 and "pg_dump" in done.stderr
