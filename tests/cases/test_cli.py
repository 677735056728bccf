"""`xinfang case …`: the staff CLI over a real (SQLite) database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.__main__ import parser
from bot.settings import load_settings
from bot.storage import cases
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from tests.conftest import FixedClock

from .lifecycle_support import make_case


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("XINFANG_DATABASE_URL", url)
    monkeypatch.setenv("XINFANG_DATA_DIR", str(tmp_path / "data"))
    return url


def main(argv: list[str]) -> int:
    """Run one `xinfang …` command in-process (without reconfiguring logging)."""
    args = parser().parse_args(argv)
    return int(args.func(load_settings(), args))


def _case(url: str) -> str:
    async def run() -> str:
        db = Database(url)
        try:
            await upgrade(db)
            now = FixedClock().now  # long past: the acceptance deadline is overdue today
            case_id = await make_case(db, now, region="330106")
            async with db.read() as conn:
                row = await cases.by_id(conn, case_id)
            assert row is not None
            return row.tracking_no
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_staff_cli(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    number = _case(database_url)

    assert main(["case", "--actor", "staff:li", "answer", number, "--outcome", "supported",
                 "--text", "已处理"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "is 'submitted': action 'answer' is not allowed" in err and "accept" in err

    assert main(["case", "--actor", "staff:li", "accept", number, "--note", "材料齐全"]) == 0
    out = capsys.readouterr().out
    assert "accept -> accepted (due 20" in out and "; 1 push(es) queued" in out
    assert main(["case", "assign", number, "--department", "330106-rsj", "--co", "330106-zjj"]) == 0
    assert "assign -> assigned" in capsys.readouterr().out
    assert main(["case", "note", number, "信访人要求电话联系"]) == 0
    assert "internal note added" in capsys.readouterr().out
    assert main(["case", "extend", number, "--days", "40", "--reason", "调查"]) == 1
    assert "1 to 30 days" in capsys.readouterr().err

    assert main(["case", "edit", number, "--people", "6", "--note", "电话核实"]) == 0
    assert "corrected; flags first_petition, group_petition" in capsys.readouterr().out

    assert main(["case", "show", number]) == 0
    out = capsys.readouterr().out
    assert "details_corrected (internal)  电话核实" in out
    assert "status      assigned" in out
    assert "330106-rsj  co 330106-zjj" in out
    assert "staff:li" in out and "note (internal)" in out

    assert main(["case", "due", "--all"]) == 0
    captured = capsys.readouterr()
    assert number[2:8] in captured.out
    assert main(["case", "show", "XF12"]) == 1
    assert "not a valid tracking number" in capsys.readouterr().err
