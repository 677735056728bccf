"""`xinfang chat` as an operator runs it: lines on stdin, replies on stdout, same database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.storage.db import Database
from bot.storage.tables import cases
from tests.petition import ANSWERS_ZH, CONFIRM_WORD

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ORDER = [
    "appeal_type", "name", "phone", "address", "region", "incident_place", "category",
    "respondent", "request", "facts", "完成", "people_count", "legal_status",
    "reported_before",
]  # fmt: skip


def run_chat(db_url: str, data_dir: Path, lines: list[str]) -> str:
    env = {**os.environ, "XINFANG_DATABASE_URL": db_url, "XINFANG_DATA_DIR": str(data_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--user", "operator-demo"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[info" not in proc.stderr and "[info" not in proc.stdout  # the screen is the chat's
    return proc.stdout


async def test_file_a_petition_in_the_terminal_then_query_it(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    answers = [ANSWERS_ZH.get(step, step) for step in ORDER]
    out = run_chat(db_url, tmp_path, ["新建", *answers, CONFIRM_WORD])
    assert "bot> " in out and "1．" in out  # choices rendered as a numbered list
    async with db.read() as conn:
        number = (await conn.execute(select(cases.c.tracking_no))).scalar_one()
    assert number[2:8] in out
    assert "case.submitted" in (tmp_path / "chat.log").read_text(encoding="utf-8")

    # a second session of the same operator lists the case: same engine, same data
    out = run_chat(db_url, tmp_path, ["我的"])
    assert number[2:8] in out
