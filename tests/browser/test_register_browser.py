"""登记 in a real browser against `xinfang serve`: a clerk registers a letter (来信) received
a few days ago, with a scan of it; the page asks only the questions the form asks (a
claim is never anonymous, representatives only for five or more people), refuses an
incomplete petition with the typed answers kept, and the new case page shows the letter,
its scan, who registered it and the acceptance deadline counted from the day it arrived.

Screenshots: test-artifacts/console-register*.png.
"""

from __future__ import annotations

import re
import struct
import zlib
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from bot.cases.clocks import due_at
from bot.cases.service import load_case_config
from bot.storage.db import Database
from bot.storage.tables import attachments, cases
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_console_browser import PASSWORD, add_staff
from tests.server import ROOT, Server

pytestmark = pytest.mark.e2e
TZ = ZoneInfo("Asia/Shanghai")
REQUEST = "请求区住建局督促开发商维修小区漏水的地下车库"
FACTS = "2026年9月以来地下车库多处漏水，业主多次向物业和开发商反映，至今无人维修。"


def png(path: Path) -> Path:
    """A small real PNG (the scan of the letter)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\xff\xff" * 8 for _ in range(8))
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


async def test_a_clerk_registers_a_letter_with_its_scan(
    db: Database, db_url: str, tmp_path: Path, browser: Browser
) -> None:
    server = Server(db_url, tmp_path / "data", XINFANG_OUTBOX_POLL_SECONDS="0.05")
    await server.start()
    try:
        add_staff(server, "clerk", "--role", "supervisor", "--name", "来信登记员")
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        await page.goto(f"{server.url}/staff/login")
        await page.fill("input[name=login]", "clerk")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.click("#nav-register")
        await expect(page.locator("h1")).to_have_text("登记信访事项")

        today = datetime.now(TZ).date()
        received = today - timedelta(days=3)
        await page.select_option("#channel", "letter")
        await page.fill("#received_on", received.isoformat())
        await page.select_option("#a-appeal_type", "claim")
        anonymous = page.locator(".question[data-field=anonymous]")
        await expect(anonymous).to_be_hidden()  # a claim is filed under a name
        await page.fill("#a-name", "赵六")
        await page.fill("#a-phone", "0571-87654321")  # a landline: told on paper
        await page.fill("#a-address", "杭州市上城区清泰街100号")
        await page.select_option("#a-region", "330102")
        await page.fill("#a-incident_place", "清泰街100号小区地下车库")
        await page.select_option("#a-category", "demolition")
        await page.fill("#a-facts", FACTS)
        representatives = page.locator(".question[data-field=representatives]")
        await page.fill("#a-people_count", "6")
        await expect(representatives).to_be_visible()
        await page.fill("#a-people_count", "1")
        await expect(representatives).to_be_hidden()
        await page.select_option("#a-legal_status", "none")
        await page.select_option("#a-reported_before", "no")
        scan = png(tmp_path / "来信扫描件.png")
        await page.set_input_files("#files", str(scan))

        # the request is missing: refused, the answers kept, the field marked
        await page.click("#register-submit")
        await expect(page.locator("#register-error")).to_be_visible()
        await expect(page.locator("#error-a-request")).to_have_text("此项必填")
        await expect(page.locator("#a-name")).to_have_value("赵六")
        await shot(page, "register-refused")

        await page.fill("#a-request", REQUEST)
        await page.set_input_files("#files", str(scan))  # files are not kept by a browser
        await shot(page, "register")
        await page.click("#register-submit")
        await expect(page.locator("p.flash.ok")).to_contain_text("已登记")
        await expect(page.locator("#arrival")).to_have_text("来信")
        await expect(page.locator("#paper-only")).to_have_text("无电子联系方式，书面告知")
        await expect(page.locator("#attachments")).to_contain_text("来信扫描件.png")
        await expect(page.locator("#attachments img")).to_have_count(1)
        await expect(page.locator("#fields")).to_contain_text(REQUEST)
        await expect(page.locator("#timeline")).to_contain_text("clerk")
        config = load_case_config(ROOT / "config")
        start = datetime.combine(received, time.min, TZ)
        due = due_at(start, config.clocks.acceptance, config.calendar, TZ)
        due_cell = page.locator("table.facts tr", has_text="期限")
        await expect(due_cell.first).to_contain_text(due.strftime("%Y-%m-%d"))
        await shot(page, "registered-letter")
        number = re.search(r"XF\d{6}-\d{6}-\d", await page.locator("h1").inner_text())
        assert number, "the case page names the new case"

        async with db.read() as conn:
            row = (await conn.execute(select(cases.c.channel, cases.c.submitted_at))).one()
            files = (await conn.execute(select(attachments.c.origin, attachments.c.mime))).all()
        assert row.channel == "letter"
        assert row.submitted_at.astimezone(TZ).date() == received
        assert [(f.origin, f.mime) for f in files] == [("petitioner", "image/png")]
        assert not problems, problems
        await context.close()
    finally:
        server.stop()
