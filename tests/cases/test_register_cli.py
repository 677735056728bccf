"""`xinfang case register …`: a petition received by phone or letter registered from the
command line, through the same registration function as the console and the API."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.storage import attachments, cases
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from bot.storage.tables import attachments as attachment_table
from tests.cases.test_cli import database_url, main  # noqa: F401  (the fixture)

TZ = ZoneInfo("Asia/Shanghai")
ANSWERS = [
    "appeal_type=建议意见",
    "anonymous=否",
    "name=钱七",
    "phone=13612345678",
    "address=杭州市西湖区文三路1号",
    "region=西湖区",
    "incident_place=文三路公交站",
    "category=建议类",
    "request=建议在文三路公交站增设遮雨棚",
    "facts=文三路公交站没有遮雨棚，雨天候车的老人和学生只能淋雨。",
    "people_count=1",
    "legal_status=没有",
    "reported_before=否",
]


def _setup(url: str) -> None:
    async def run() -> None:
        db = Database(url)
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(run())


def _stored(url: str) -> tuple[list[cases.CaseRow], list[tuple[str, str]]]:
    async def run() -> tuple[list[cases.CaseRow], list[tuple[str, str]]]:
        db = Database(url)
        try:
            async with db.read() as conn:
                rows = await cases.for_contact(conn, 1, limit=10)
                files = await conn.execute(
                    attachment_table.select().order_by(attachment_table.c.id)
                )
                return rows, [(f.origin, f.filename) for f in files]
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_register_from_the_command_line(
    database_url: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _setup(database_url)
    received = (datetime.now(TZ).date() - timedelta(days=1)).isoformat()
    base = ["case", "--actor", "staff:li", "register", "--channel", "phone"]
    base += ["--received-on", received]
    # without the request: refused, each problem named, nothing stored
    incomplete = [f"--answer={a}" for a in ANSWERS if not a.startswith("request=")]
    assert main([*base, *incomplete]) == 2
    err = capsys.readouterr().err
    assert "request: register.required" in err
    scan = tmp_path / "电话记录.pdf"
    scan.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    argv = [*base, *(f"--answer={a}" for a in ANSWERS), "--file", str(scan)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "registered (phone received" in out and "notices by sms" in out
    rows, files = _stored(database_url)
    assert [(r.channel, r.appeal_type, r.category) for r in rows] == [
        ("phone", "suggestion", "proposals")
    ]
    assert rows[0].submitted_at.astimezone(TZ).date().isoformat() == received
    assert files == [("petitioner", "电话记录.pdf")]
    assert attachments.PETITIONER == "petitioner"
