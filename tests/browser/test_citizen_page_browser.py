"""The citizen's case page on a phone (390×844, Debian's chromium) against `xinfang serve`:
opened from the link in the answer's push, large type, a rating and a 复查 request with a
reason. Screenshots go to test-artifacts/citizen-*.png for a person to look at.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, expect
from sqlalchemy import select

from bot.app import build_services
from bot.settings import Settings
from bot.staff.access import Role, StaffMember
from bot.storage import cases
from bot.storage.db import Database
from bot.storage.tables import outbox
from tests.browser.conftest import ARTIFACTS
from tests.cases.lifecycle_support import make_case
from tests.server import ROOT, Server

pytestmark = pytest.mark.e2e
SECRET_KEY = "browser-test-secret-" + "z" * 32
SUPERVISOR = StaffMember(1, "duban", "", Role.SUPERVISOR, ())
OPINION = (
    "经核实，您反映的村道损坏问题属实。镇政府已将该路段列入今年农村公路养护计划，"
    "计划于12月底前完成修复。施工期间请注意出行安全。"
)
INTERNAL = "内部：该户多次越级上访，注意稳控。"


async def answered_case(db_url: str, public_url: str, data_dir: Path) -> tuple[str, str]:
    """A citizen's case accepted, assigned and answered by staff; (number, the pushed link)."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=db_url,
        data_dir=data_dir,
        config_dir=ROOT / "config",
        public_url=public_url,
        secret_key=SECRET_KEY,
    )
    services = build_services(settings)
    await services.accounts.add("duban", "a long staff passphrase", role=Role.SUPERVISOR)
    answers = {"request": "村道损坏三年，雨天无法通行，请求尽快修路", "phone": "13912345678"}
    case_id = await make_case(
        services.db,
        datetime.now(UTC) - timedelta(days=2),
        user="browser-citizen",
        category="projects",
        region="330102",
        department="330102-zjj",
        answers=answers,
    )
    async with services.db.read() as conn:
        row = await cases.by_id(conn, case_id)
    assert row is not None
    number = row.tracking_no
    work = services.casework
    await work.act(SUPERVISOR, number, "accept", {"note": INTERNAL})
    await work.act(SUPERVISOR, number, "assign", {"department": "330102-zjj", "note": INTERNAL})
    await work.act(SUPERVISOR, number, "answer", {"outcome": "supported", "text": OPINION})
    async with services.db.read() as conn:
        texts = [
            str(r.payload.get("text", ""))
            for r in (await conn.execute(select(outbox.c.payload))).all()
        ]
    await services.db.dispose()
    links = [m for t in texts if "出具处理意见" in t for m in re.findall(r"查看详情：(\S+)", t)]
    assert links, texts
    return number, links[-1]


async def test_citizen_rates_and_asks_for_review_on_a_phone(
    db: Database, db_url: str, tmp_path: Path, browser: Browser
) -> None:
    server = Server(db_url, tmp_path / "data", XINFANG_SECRET_KEY=SECRET_KEY)
    server.env["XINFANG_PUBLIC_URL"] = server.url
    await server.start()
    try:
        number, link = await answered_case(db_url, server.url, tmp_path / "data")
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":  # a CSP violation is reported here
                problems.append(msg.text)

        page.on("console", on_console)
        await page.goto(link)
        assert page.url == f"{server.url}/my/cases/{number}", "the token left the address"
        await expect(page.locator(".badge.big")).to_have_text("已答复")
        await expect(page.locator(".opinion-text")).to_have_text(OPINION)
        assert INTERNAL not in await page.content()
        await page.screenshot(path=str(ARTIFACTS / "citizen-case.png"), full_page=True)

        # 大字: larger type, remembered (the web chat's choice and key)
        toggle = page.locator("#size-toggle")
        await expect(toggle).to_have_text("大字")
        normal = await page.locator(".opinion-text").evaluate("e => getComputedStyle(e).fontSize")
        await toggle.click()
        await expect(page.locator("html")).to_have_class("large")
        await expect(toggle).to_have_attribute("aria-pressed", "true")
        large = await page.locator(".opinion-text").evaluate("e => getComputedStyle(e).fontSize")
        assert float(large.rstrip("px")) > float(normal.rstrip("px"))
        await page.screenshot(path=str(ARTIFACTS / "citizen-case-large.png"), full_page=True)
        await page.screenshot(path=str(ARTIFACTS / "citizen-case-large-top.png"))

        # 评价 with a comment
        await page.fill("#comment", "路已经开始修了，谢谢")
        await page.get_by_role("button", name="基本满意").click()
        await expect(page.locator(".ok-box")).to_contain_text("感谢您的评价")
        await expect(page.locator("html")).to_have_class("large")  # kept across pages
        await page.screenshot(path=str(ARTIFACTS / "citizen-rated.png"))

        # 复查 with a reason
        await page.fill("#reason", "施工只修了一半，雨天仍然无法通行")
        await page.get_by_role("button", name="提交复查申请").click()
        await expect(page.locator(".ok-box")).to_contain_text("复查申请")
        await expect(page.locator(".badge.big")).to_have_text("已申请复查")
        await expect(page.locator("#reason")).to_have_count(0)
        await page.screenshot(path=str(ARTIFACTS / "citizen-review-requested.png"), full_page=True)

        await page.get_by_role("link", name="返回我的事项").first.click()
        await expect(page.locator(".case-card")).to_have_count(1)
        await page.screenshot(path=str(ARTIFACTS / "citizen-list.png"))
        assert problems == []
        await context.close()

        # the web chat's header leads to the page too (a new phone: no case yet)
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        page = await context.new_page()
        await page.goto(f"{server.url}/chat")
        await expect(page.locator("#my-link")).to_have_text("我的事项")
        await page.screenshot(path=str(ARTIFACTS / "citizen-chat-header.png"))
        await page.click("#size-toggle")
        await page.screenshot(path=str(ARTIFACTS / "citizen-chat-header-large.png"))
        await page.click("#my-link")
        await expect(page.locator(".box")).to_have_text("您还没有提交过信访事项。")
        await context.close()

        async with db.read() as conn:
            row = await cases.by_tracking_no(conn, number)
        assert row is not None
        assert row.status == "review_requested" and row.rating == "basically_satisfied"
    finally:
        server.stop()
