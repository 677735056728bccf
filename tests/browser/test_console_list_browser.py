"""The case list and case page in a real browser (Debian's chromium, Playwright) against
`xinfang serve`: filter chips removed with a click, the region filter narrowed by typing,
"select all on this page", bulk accept with one refused case, bulk assign, export of a
selection; the top menu and the filters on a 390 px wide phone; a case page printed
without navigation and forms.

Screenshots go to test-artifacts/console-list-*.png, console-mobile-390*.png and
console-case-print.png / .pdf.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from bot.domain.tracking import format_tracking_no
from bot.storage.db import Database
from bot.storage.tables import cases
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_console_browser import PASSWORD, add_staff
from tests.cases.lifecycle_support import make_case
from tests.server import Server

pytestmark = pytest.mark.e2e
NOW = datetime.now(UTC)
RSJ = "330106-rsj"
ZJJ = "330102-zjj"


async def _seed(db: Database) -> dict[str, str]:
    """Three new cases of the Xihu labour bureau and one it has already accepted."""
    numbers: dict[str, str] = {}
    for i, (name, status) in enumerate(
        (("one", "submitted"), ("two", "submitted"), ("three", "submitted"), ("done", "accepted"))
    ):
        case_id = await make_case(
            db,
            NOW - timedelta(hours=i + 1),
            user=f"list-{name}",
            status=status,
            department=RSJ,
            answers={"request": f"请求支付拖欠工资（{name}）", "name": "张三"},
        )
        async with db.read() as conn:
            found = await conn.execute(select(cases.c.tracking_no).where(cases.c.id == case_id))
            numbers[name] = found.scalar_one()
    return numbers


async def _log_in(context: BrowserContext, url: str) -> Page:
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    await page.goto(f"{url}/staff/login")
    await page.fill("input[name=login]", "duban")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("工作概况")
    page.problems = problems  # type: ignore[attr-defined]
    return page


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


async def test_case_list_chips_bulk_actions_phone_and_print(
    db: Database, db_url: str, tmp_path: Path, browser: Browser
) -> None:
    numbers = await _seed(db)
    server = Server(db_url, tmp_path / "data")
    try:
        await server.start()
        add_staff(server, "duban", "--role", "supervisor", "--name", "王督办")
        context = await browser.new_context(
            viewport={"width": 1366, "height": 900}, accept_downloads=True, locale="zh-CN"
        )
        page = await _log_in(context, server.url)

        # --- chips: every active filter, each removable on its own
        await page.goto(f"{server.url}/staff/cases?region=330106&status=submitted&status=accepted")
        chips = page.locator("#chips li.chip")
        await expect(chips).to_have_count(3)
        await expect(page.locator("#total")).to_contain_text("共 4 件")
        await shot(page, "list-chips")
        await page.click('#chips li.chip[data-value="accepted"] a.remove')
        await expect(chips).to_have_count(2)
        assert "status=accepted" not in page.url and "status=submitted" in page.url
        await expect(page.locator("#total")).to_contain_text("共 3 件")

        # --- the region filter narrows as one types (a plain select underneath)
        search = page.locator("#filter-region-search")
        await search.fill("上城")
        visible = await page.eval_on_selector_all(
            "#filter-region option", "os => os.filter(o => !o.hidden).map(o => o.text)"
        )
        assert visible and all("上城" in text or "西湖" in text for text in visible)
        assert "西湖区" in visible, "a chosen option stays in sight"

        # --- sort by last update, kept in the URL
        await page.goto(f"{server.url}/staff/cases")
        await page.select_option("#sort", "updated_at")
        await page.click("#apply-filter")
        assert "sort=updated_at" in page.url

        # --- select all on this page, then accept: the accepted one is refused
        await page.check("#select-all")
        await expect(page.locator("#selected-count")).to_have_text("已选 4 件")
        await page.click("#bulk-accept")
        await expect(page.locator("#bulk-summary")).to_have_text("已受理 3 件；1 件未能受理。")
        refused = page.locator("#bulk-refused tbody tr")
        await expect(refused).to_have_count(1)
        await expect(refused).to_contain_text(format_tracking_no(numbers["done"]))
        await expect(refused).to_contain_text("当前状态为“已受理”，不能执行“受理”。")
        await shot(page, "list-bulk-accept")

        # --- back to the same list; assign two cases to the housing bureau
        await page.click("#back-to-list")
        assert "sort=updated_at" in page.url
        for name in ("one", "two"):
            await page.check(f'input.pick[value="{numbers[name]}"]')
        await expect(page.locator("#selected-count")).to_have_text("已选 2 件")
        await page.select_option("#bulk-department", ZJJ)
        await page.click("#bulk-assign")
        await expect(page.locator("#bulk-summary")).to_have_text("已交办 2 件；0 件未能交办。")
        async with db.read() as conn:
            rows = await conn.execute(
                select(cases.c.tracking_no, cases.c.status, cases.c.department)
            )
            state = {r[0]: (r[1], r[2]) for r in rows}
        assert state[numbers["one"]] == ("assigned", ZJJ)
        assert state[numbers["three"]] == ("accepted", RSJ)

        # --- export the selection
        await page.click("#back-to-list")
        await page.check(f'input.pick[value="{numbers["three"]}"]')
        async with page.expect_download() as info:
            await page.click("#bulk-csv")
        download = await info.value
        saved = tmp_path / "selection.csv"
        await download.save_as(saved)
        rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
        assert [r[0] for r in rows[1:]] == [format_tracking_no(numbers["three"])]

        # --- print the case page: no navigation, no forms
        await page.goto(f"{server.url}/staff/cases/{numbers['three']}")
        await expect(page.locator("#actions-card")).to_be_visible()
        await page.emulate_media(media="print")
        await expect(page.locator("header.top")).to_be_hidden()
        await expect(page.locator("#actions-card")).to_be_hidden()
        await expect(page.locator("form").first).to_be_hidden()
        await expect(page.locator("#fields")).to_be_visible()
        await shot(page, "case-print")
        pdf = await page.pdf(path=str(ARTIFACTS / "console-case-print.pdf"), format="A4")
        assert pdf.startswith(b"%PDF")
        await page.emulate_media(media="screen")
        assert not page.problems  # type: ignore[attr-defined]
        await context.close()

        # --- a 390 px wide phone: a menu button, filters one above the other
        phone = await browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
        )
        page = await _log_in(phone, server.url)
        await page.goto(f"{server.url}/staff/cases?status=accepted")
        nav = page.locator("#top-nav")
        await expect(page.locator("#menu-button")).to_be_visible()
        await expect(nav).to_be_hidden()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px screen"
        boxes = [
            await page.locator(f"#filters select[name={name}]").bounding_box()
            for name in ("status", "category")
        ]
        assert boxes[0] and boxes[1]
        assert boxes[1]["y"] > boxes[0]["y"] + boxes[0]["height"] - 1, "filters are stacked"
        assert boxes[0]["width"] > 300, "a filter takes the screen's width"
        await expect(page.locator("#chips li.chip")).to_have_count(1)
        await page.screenshot(path=str(ARTIFACTS / "console-mobile-390.png"))
        await page.click("#menu-button")
        await expect(nav).to_be_visible()
        await expect(nav.locator("a", has_text="事项")).to_be_visible()
        await page.screenshot(path=str(ARTIFACTS / "console-mobile-390-menu.png"))
        await nav.locator("a", has_text="事项").click()
        await expect(page).to_have_url(re.compile(r"/staff/cases$"))
        assert not page.problems  # type: ignore[attr-defined]
        await phone.close()
    finally:
        server.stop()
