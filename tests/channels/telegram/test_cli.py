"""`xinfang telegram …` against the fake Bot API (a real subprocess)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.fakes_telegram import TOKEN, FakeTelegram

ROOT = Path(__file__).resolve().parents[3]


async def xinfang(fake: FakeTelegram, *args: str, secret: str = "s3cret") -> tuple[int, str]:
    env = {
        **os.environ,
        "XINFANG_TELEGRAM_TOKEN": TOKEN,
        "XINFANG_TELEGRAM_SECRET": secret,
        "XINFANG_TELEGRAM_API_BASE": fake.url,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "telegram",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return int(proc.returncode or 0), out.decode()


async def test_set_webhook_registers_secret_updates_and_commands(fake: FakeTelegram) -> None:
    code, out = await xinfang(fake, "set-webhook", "https://xinfang.example.org/telegram")
    assert code == 0, out
    assert fake.webhook["url"] == "https://xinfang.example.org/telegram"
    assert fake.webhook["secret_token"] == "s3cret"
    assert fake.webhook["allowed_updates"] == [
        "message",
        "edited_message",
        "callback_query",
        "my_chat_member",
    ]
    assert {c["command"] for c in fake.commands["zh"]} == {
        "new",
        "status",
        "my",
        "cancel",
        "help",
        "lang",
        "unsubscribe",
        "subscribe",
    }
    assert fake.commands["en"][0] == {"command": "new", "description": "File a new petition"}
    assert fake.commands[""] == fake.commands["zh"]  # the default list is Chinese


async def test_set_webhook_refuses_without_a_secret(fake: FakeTelegram) -> None:
    code, out = await xinfang(fake, "set-webhook", "https://x.example/telegram", secret="")
    assert code == 2 and "XINFANG_TELEGRAM_SECRET" in out
    assert fake.webhook == {}


async def test_delete_webhook(fake: FakeTelegram) -> None:
    fake.webhook = {"url": "https://x.example/telegram"}
    code, out = await xinfang(fake, "delete-webhook")
    assert code == 0, out
    assert fake.webhook == {}
