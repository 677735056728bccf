"""A handler's day in a real browser (Debian's chromium via Playwright) against `xinfang
serve`: 我的待办 lists their department's untaken case with its working days left, they
take it (认领), insert a canned text (常用语) into the answer, reload the page and find the
draft kept, and submit it; the draft is then forgotten.

Screenshots go to test-artifacts/worklist-*.png.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from bot.domain.tracking import format_tracking_no
from bot.storage import cases
from bot.storage.db import Database
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_console_browser import PASSWORD, add_staff
from tests.cases.lifecycle_support import make_case
from tests.server import Server

pytestmark = pytest.mark.e2e
OWN_WORDS = "另经现场核实，欠薪已于本月全部结清。"


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"worklist-{name}.png"), full_page=True)


async def test_a_handler_takes_a_case_and_answers_with_a_canned_text(
    db: Database, db_url: str, tmp_path: Path, browser: Browser
) -> None:
    server = Server(db_url, tmp_path / "data", XINFANG_OUTBOX_POLL_SECONDS="0.05")
    await server.start()
    try:
        add_staff(server, "wang", "--role", "handler", "--department", "330106-rsj")
        now = datetime.now(UTC)
        case_id = await make_case(
            db,
            now - timedelta(days=10),
            status="in_progress",
            department="330106-rsj",
            answers={"request": "请求支付拖欠的工资"},
            accepted_at=now - timedelta(days=9),
            answer_due_at=now + timedelta(days=12),
            due_at=now + timedelta(days=12),
        )
        async with db.read() as conn:
            row = await cases.by_id(conn, case_id)
        assert row is not None
        number, shown = row.tracking_no, format_tracking_no(row.tracking_no)

        context = await browser.new_context(viewport={"width": 1366, "height": 900})
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))

        def console_error(msg: ConsoleMessage) -> None:
            if msg.type == "error":  # CSP violations are reported here
                problems.append(msg.text)

        page.on("console", console_error)

        await page.goto(f"{server.url}/staff/login")
        await page.fill("input[name=login]", "wang")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await expect(page.locator("#todo-count")).to_have_text("1")

        # 我的待办: nothing named to them yet; the department's case waits to be taken
        await page.click("#nav-todo")
        await expect(page.locator("h1")).to_have_text("我的待办")
        await expect(page.locator("#todo-queue tbody tr")).to_have_count(1)
        row_text = await page.locator("#todo-queue tbody tr").inner_text()
        assert shown in row_text and "个工作日" in row_text and "答复" in row_text
        await shot(page, "todo")

        # take it (认领)
        await page.click(f"#todo-queue >> text={shown}")
        await expect(page.locator("#handler")).to_contain_text("未指定")
        await page.click("#take-case")
        await expect(page.locator("p.flash.ok")).to_be_visible()
        await expect(page.locator("#handler")).to_contain_text("wang")
        await expect(page.locator("#take-case")).to_have_count(0)

        # a canned text goes into the answer, with the case's facts filled in
        box = page.locator("#action-answer")
        await box.locator("summary").click()
        await box.locator("select.canned-pick[data-target=answer-text]").select_option(index=1)
        answer = box.locator("textarea[name=text]")
        await expect(answer).to_have_value(re.compile(re.escape(shown)))
        await answer.press("End")
        await answer.type(OWN_WORDS)
        typed = await answer.input_value()
        assert typed.startswith("您反映的事项") and typed.endswith(OWN_WORDS)
        await shot(page, "canned")

        # the page is reloaded: the long answer is still there
        await page.reload()
        await expect(page.locator("#action-answer textarea[name=text]")).to_have_value(typed)
        await expect(page.locator("#action-answer")).to_have_attribute("open", "")
        await shot(page, "draft-kept")

        await page.locator("#action-answer select[name=outcome]").select_option("supported")
        await page.locator("#action-answer button[type=submit]").click()
        await expect(page.locator("p.flash.ok")).to_be_visible()
        await expect(page.locator("#case-status")).to_have_text("已答复")
        await expect(page.locator("#opinions")).to_contain_text(OWN_WORDS)
        # a submitted answer's draft is forgotten (once the page's script has run: under
        # load it may come after the flash message is visible)
        await page.wait_for_function(
            "() => !Object.keys(localStorage).some(k => k.indexOf('xf-draft:') === 0)",
            timeout=10_000,
        )
        await shot(page, "answered")

        # back on 我的待办 the case is theirs now, waiting for the petitioner
        await page.click("#nav-todo")
        await expect(page.locator("#todo-mine tbody tr")).to_have_count(1)
        await expect(page.locator("#todo-queue tbody tr")).to_have_count(0)
        assert number in await page.locator("#todo-mine").inner_html()
        assert problems == []
        await context.close()
    finally:
        server.stop()
