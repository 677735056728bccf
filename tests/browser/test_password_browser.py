"""A staff member changes their password in a real browser against `xinfang serve`, after
an administrator's reset sent them to the form: a common password is refused on the page,
a good one is taken, a second browser's session of the same account ends, and the new
password logs in. Screenshots: test-artifacts/console-password-*.png."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from bot.storage.db import Database
from tests.browser.conftest import ARTIFACTS
from tests.server import ROOT, Server

pytestmark = pytest.mark.e2e
FIRST = "a long staff passphrase"
GIVEN = "reset by the office admin"
CHOSEN = "lanterns over the west lake"


def staff(server: Server, *args: str, stdin: str = "") -> None:
    """`xinfang staff …` as an operator runs it."""
    subprocess.run(
        [sys.executable, "-m", "bot", "staff", *args],
        input=stdin,
        text=True,
        env=server.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


async def log_in(page: Page, base: str, password: str) -> None:
    await page.goto(f"{base}/staff/login")
    await page.fill("input[name=login]", "wang")
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def test_password_change_after_a_reset_in_the_browser(
    db: Database, db_url: str, tmp_path: Path, browser: Browser
) -> None:
    server = Server(db_url, tmp_path / "data")
    await server.start()
    try:
        staff(server, "add", "wang", "--role", "viewer", "--name", "王芳", "--password-stdin",
              stdin=FIRST + "\n")  # fmt: skip
        other = await (await browser.new_context(locale="zh-CN")).new_page()
        await log_in(other, server.url, FIRST)
        await expect(other).to_have_url(re.compile(r"/staff/$"))
        staff(server, "reset-password", "wang", "--password-stdin", stdin=GIVEN + "\n")
        await other.goto(f"{server.url}/staff/cases")  # the reset ended that session
        await expect(other).to_have_url(re.compile(r"/staff/login"))
        await log_in(other, server.url, GIVEN)

        context = await browser.new_context(viewport={"width": 1200, "height": 800}, locale="zh-CN")
        page = await context.new_page()
        await log_in(page, server.url, GIVEN)
        await expect(page).to_have_url(re.compile(r"/staff/password$"))
        await expect(page.locator("#password-forced")).to_be_visible()
        await page.goto(f"{server.url}/staff/cases")  # nothing else until it is changed
        await expect(page).to_have_url(re.compile(r"/staff/password$"))

        await page.fill("input[name=current]", GIVEN)
        await page.fill("input[name=new]", "qwertyuiop123")
        await page.fill("input[name=again]", "qwertyuiop123")
        await page.click("#password-submit")
        await expect(page.locator("#password-error")).to_contain_text("常见密码")
        await page.screenshot(path=str(ARTIFACTS / "console-password-refused.png"), full_page=True)

        await page.fill("input[name=current]", GIVEN)
        await page.fill("input[name=new]", CHOSEN)
        await page.fill("input[name=again]", CHOSEN)
        await page.screenshot(path=str(ARTIFACTS / "console-password-form.png"), full_page=True)
        await page.click("#password-submit")
        await expect(page).to_have_url(re.compile(r"/staff/$"))
        await expect(page.locator("p.flash.ok")).to_contain_text("密码已修改")
        await page.screenshot(path=str(ARTIFACTS / "console-password-changed.png"), full_page=True)
        await page.goto(f"{server.url}/staff/cases")
        await expect(page).to_have_url(re.compile(r"/staff/cases$"))

        await other.goto(f"{server.url}/staff/cases")  # the other browser's session ended
        await expect(other).to_have_url(re.compile(r"/staff/login"))
        await log_in(other, server.url, CHOSEN)
        await expect(other).to_have_url(re.compile(r"/staff/$"))
    finally:
        server.stop()
