"""`xinfang broadcast …` and `xinfang export …` against a real database and outbox worker."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.__main__ import parser
from bot.outbox import OutboxWorker
from bot.settings import load_settings
from bot.staff.broadcasts import BroadcastService
from bot.storage.db import Database
from bot.storage.staff import list_audit
from tests.conftest import FixedClock
from tests.fakes import FakeChannel

from .support import add_staff_rows, petition, set_contact


@pytest.fixture
def env(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("XINFANG_DATABASE_URL", db.url)
    monkeypatch.setenv("XINFANG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XINFANG_AUTO_MIGRATE", "false")
    # "--all" here tests delivery; its approval by a second account is tested below
    monkeypatch.setenv("XINFANG_BROADCAST_ALL_NEEDS_APPROVAL", "false")
    return db


def main(argv: list[str]) -> int:
    """Run one `xinfang …` command in-process (without reconfiguring logging)."""
    args = parser().parse_args(argv)
    return int(args.func(load_settings(), args))


async def _seed(db: Database, clock: FixedClock) -> None:
    now = clock()
    await add_staff_rows(db, now)
    for user in ("a", "b", "c", "d"):
        await petition(db, now, user, channel="web")
    await petition(db, now, "e", channel="terminal", region="330102")
    await set_contact(db, "web", "d", broadcast_opt_out=True)


async def test_send_with_yes_follows_progress_to_done(
    env: Database, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await _seed(env, clock)
    channels = {"web": FakeChannel("web"), "terminal": FakeChannel("terminal")}
    worker = OutboxWorker(env, channels, worker_id="serve", batch=1, poll_seconds=0.05)
    stop = asyncio.Event()
    delivering = asyncio.create_task(worker.run(stop))
    try:
        argv = ["broadcast", "send", "--as", "boss", "--all", "--yes", "--interval", "0.05",
                "--text", "本周六上午信访局开放接待。"]  # fmt: skip
        assert await asyncio.to_thread(main, argv) == 0
    finally:
        stop.set()
        await delivering
    out = capsys.readouterr().out
    assert "  terminal          1\n  web               3\n  total             4" in out
    assert "broadcast #1 queued for 4 contacts" in out
    assert "[##############################] 100%  sent 4  failed 0  pending 0" in out
    assert "broadcast #1 done\n" in out
    assert sorted(m.address.address for m in channels["web"].sent) == ["a", "b", "c"]
    async with env.read() as conn:
        audit = await list_audit(conn, action="broadcast.send")
    assert [a.actor for a in audit] == ["boss"]

    assert await asyncio.to_thread(main, ["broadcast", "list"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("#1 done") and "sent 4, failed 0, pending 0" in listed
    assert await asyncio.to_thread(main, ["broadcast", "status", "1"]) == 0
    assert "#1 done" in capsys.readouterr().out


async def test_send_asks_and_refuses(
    env: Database,
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _seed(env, clock)
    monkeypatch.setattr("builtins.input", lambda _prompt: "n")
    argv = ["broadcast", "send", "--as", "boss", "--region", "330102", "--text", "通知"]
    assert await asyncio.to_thread(main, argv) == 1
    out = capsys.readouterr().out
    assert "audience: filter region=330102" in out and "not sent" in out
    assert await BroadcastService(env).recent() == []
    # a handler may not broadcast; an unknown login is refused
    argv = ["broadcast", "send", "--as", "wang", "--all", "--yes", "--text", "通知"]
    assert await asyncio.to_thread(main, argv) == 1
    assert "handler may not broadcast" in capsys.readouterr().err
    argv = ["broadcast", "send", "--as", "nobody", "--all", "--yes", "--text", "通知"]
    assert await asyncio.to_thread(main, argv) == 1
    assert "no active staff account 'nobody'" in capsys.readouterr().err
    argv = ["broadcast", "send", "--as", "boss", "--all", "--case", "XF2611210482733",
            "--text", "通知"]  # fmt: skip
    assert await asyncio.to_thread(main, argv) == 1
    assert "choose one audience" in capsys.readouterr().err


async def test_cancel_from_the_cli(
    env: Database, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await _seed(env, clock)
    argv = ["broadcast", "send", "--as", "root", "--all", "--yes", "--no-wait", "--text", "通知"]
    assert await asyncio.to_thread(main, argv) == 0
    assert await asyncio.to_thread(main, ["broadcast", "cancel", "1", "--as", "root"]) == 0
    out = capsys.readouterr().out
    assert "#1 cancelled" in out and "cancelled 4 of 4" in out


async def test_approval_and_schedule_from_the_cli(
    env: Database,
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _seed(env, clock)
    monkeypatch.setenv("XINFANG_BROADCAST_ALL_NEEDS_APPROVAL", "true")
    argv = ["broadcast", "send", "--as", "boss", "--all", "--yes", "--text", "开放日通知"]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    # the preview says who is left out and why: d sent 退订
    assert "unsubscribed         1" in out and "unreachable          0" in out
    assert "#1 awaits the approval of another supervisor or admin" in out
    # the account that created it cannot approve it; another one can
    assert await asyncio.to_thread(main, ["broadcast", "approve", "1", "--as", "boss"]) == 1
    assert "another account" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["broadcast", "approve", "1", "--as", "root"]) == 0
    out = capsys.readouterr().out
    assert "#1 sending" in out and "(approved by root)" in out
    progress = await BroadcastService(env).progress(1)
    assert progress.status == "sending" and progress.total == 4 and progress.decided_by == "root"
    # a scheduled filter broadcast waits for its time
    argv = ["broadcast", "send", "--as", "boss", "--region", "330102", "--yes",
            "--at", "2099-01-01 09:00", "--text", "定时通知"]  # fmt: skip
    assert await asyncio.to_thread(main, argv) == 0
    assert "#2 scheduled for 2099-01-01 09:00" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["broadcast", "reject", "2", "--as", "root"]) == 1
    assert "not awaiting" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["broadcast", "list"]) == 0
    assert "#2 scheduled" in capsys.readouterr().out


async def test_export_to_files(
    env: Database, clock: FixedClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _seed(env, clock)
    target = tmp_path / "cases.csv"
    argv = ["export", "--as", "boss", "--out", str(target), "--region", "330106", "--lang", "en"]
    assert await asyncio.to_thread(main, argv) == 0
    assert "4 cases written to" in capsys.readouterr().out
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"), newline="")))
    assert rows[0][0] == "Tracking number" and len(rows) == 5
    assert not list(tmp_path.glob("*.part"))

    book = tmp_path / "all.xlsx"
    assert await asyncio.to_thread(main, ["export", "--as", "wang", "--out", str(book)]) == 0
    sheet = load_workbook(book).active
    assert sheet is not None and sheet.max_row == 6  # header + every case of 330106-rsj
    assert await asyncio.to_thread(main, ["export", "--as", "look", "--out", str(book)]) == 1
    assert "viewer may not export" in capsys.readouterr().err
