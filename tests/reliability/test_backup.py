"""`xinfang backup PATH`: an online, consistent copy of the SQLite database."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.storage.db import Database
from bot.storage.migrate import current_revision, head_revision, upgrade


def add_contacts(path: Path, start: int, count: int) -> None:
    conn = sqlite3.connect(path, timeout=30)
    for n in range(start, start + count):
        with conn:
            conn.execute(
                "INSERT INTO contacts (channel, address, created_at) VALUES (?, ?, ?)",
                ("web", f"addr-{n}", "2026-11-23 01:30:00"),
            )
    conn.close()


async def test_backup_while_writing_is_a_consistent_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "xinfang.sqlite3"
    db = Database(f"sqlite+aiosqlite:///{source}")
    await upgrade(db)
    await db.dispose()
    add_contacts(source, 0, 500)
    monkeypatch.setenv("XINFANG_DATABASE_URL", f"sqlite+aiosqlite:///{source}")

    writer = threading.Thread(target=add_contacts, args=(source, 500, 500))
    writer.start()
    target = tmp_path / "backups" / "xinfang-1.sqlite3"
    assert main(["backup", str(target)]) == 0
    writer.join()
    assert "integrity ok" in capsys.readouterr().out

    copy = sqlite3.connect(target)
    (copied,) = copy.execute("SELECT count(*) FROM contacts").fetchone()
    (check,) = copy.execute("PRAGMA integrity_check").fetchone()
    copy.close()
    assert check == "ok" and 500 <= copied <= 1000
    restored = Database(f"sqlite+aiosqlite:///{target}")  # a backup opens as a database
    assert await current_revision(restored) == head_revision()
    await restored.dispose()

    # never overwrites, and says why
    assert main(["backup", str(target)]) == 2
    assert "exists" in capsys.readouterr().err


def test_postgresql_points_to_pg_dump(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("XINFANG_DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1/x")
    assert main(["backup", str(tmp_path / "x")]) == 2
    assert "pg_dump" in capsys.readouterr().err
