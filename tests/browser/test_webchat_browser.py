"""The web chat in a real browser (Debian's chromium driven by Playwright) against `xinfang serve`.

Screenshots go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from bot.storage.db import Database
from bot.storage.tables import cases
from tests.browser.conftest import ARTIFACTS
from tests.petition import ANSWERS_ZH, CONFIRM_WORD
from tests.server import Server

pytestmark = pytest.mark.e2e
# the form's questions in order, for the answers a citizen of tests.petition gives
ORDER = [
    "appeal_type", "name", "phone", "address", "region", "incident_place", "category",
    "respondent", "request", "facts", "people_count", "legal_status", "reported_before",
]  # fmt: skip


async def bot_says(page: Page, count_before: int) -> str:
    """Wait for a new bot message; returns the text of the newest one."""
    bot = page.locator("li.msg.out .bubble")
    await expect(bot).not_to_have_count(count_before, timeout=15_000)
    return str(await bot.last.inner_text())


async def send(page: Page, text: str) -> str:
    count = await page.locator("li.msg.out .bubble").count()
    await page.fill("#input", text)
    await page.press("#input", "Enter")
    return await bot_says(page, count)


async def test_citizen_files_a_petition_in_the_browser(
    db: Database, db_url: str, tmp_path: Path, browser: Browser
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    server = Server(db_url, tmp_path / "data")
    await server.start()
    try:
        # a Chinese phone: the browser's language (Accept-Language) picks the first language
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{server.url}/chat")
        await expect(page.locator("#conn")).to_have_attribute(
            "data-state", "online", timeout=10_000
        )
        # an empty conversation opens with the menu; large text for elderly readers
        await expect(page.locator("#start-menu button")).to_have_count(4)
        await page.click("#size-toggle")
        await expect(page.locator("html")).to_have_class("large")
        await page.screenshot(path=str(ARTIFACTS / "webchat-start-large.png"))
        await page.click("#size-toggle")
        await send(page, "你好")
        # a choice button starts the petition, like a citizen tapping it
        count = await page.locator("li.msg.out .bubble").count()
        await page.get_by_role("button", name="新建信访事项").click()
        await bot_says(page, count)
        for field in ORDER:
            last = await send(page, ANSWERS_ZH[field])
            if field == "facts":
                last = await send(page, "完成")
        assert "确认提交" in last
        await page.screenshot(path=str(ARTIFACTS / "webchat-readback.png"), full_page=False)
        done = await send(page, CONFIRM_WORD)
        async with db.read() as conn:
            number = (await conn.execute(select(cases.c.tracking_no))).scalar_one()
        assert number[2:8] in done
        await page.screenshot(path=str(ARTIFACTS / "webchat-filed.png"))

        # reopening the page shows the conversation again
        await page.reload()
        await expect(page.locator("li.msg.out .bubble").filter(has_text=number[2:8])).to_have_count(
            1, timeout=10_000
        )

        # English is selectable
        count = await page.locator("li.msg.out .bubble").count()
        await page.click("#lang-toggle")
        assert "English" in await bot_says(page, count)
        reply = await send(page, "my cases")
        assert "petition" in reply.lower()
        # the list is a set of buttons: tapping one shows that case's status
        case_button = page.locator("button.choice", has_text=number[2:8])
        await expect(case_button).to_have_count(1)
        await page.screenshot(path=str(ARTIFACTS / "webchat-english.png"))
        count = await page.locator("li.msg.out .bubble").count()
        await case_button.click()
        status = await bot_says(page, count)
        assert number[2:8] in status and "Status" in status
        assert errors == []
    finally:
        server.stop()
