"""The staff console in a real browser (Debian's chromium driven by Playwright) against
`xinfang serve`: a petition filed through the web chat is found, worked, answered and
replied to; two notices that did not go through are found on the delivery page and one is
retried; the dashboard's period selector and a drill-down show it among the measures; a
broadcast reaches the petitioner's web chat; the list is exported.

Screenshots of every page go to test-artifacts/console-*.png.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from openpyxl import load_workbook
from playwright.async_api import Browser, ConsoleMessage, Page, expect
from sqlalchemy import select, update

from bot.domain.tracking import format_tracking_no
from bot.storage.db import Database
from bot.storage.tables import cases, outbox
from tests.browser.conftest import ARTIFACTS
from tests.petition import ANSWERS_ZH, CONFIRM_WORD, field_asked
from tests.server import ROOT, Server

pytestmark = pytest.mark.e2e
PASSWORD = "a long staff passphrase"
BROADCAST = "【通知】本周六上午信访接待日改在区行政服务中心三楼。"
REPLY = "您好，您反映的欠薪问题已转人社局核实，请保持电话畅通。"
ANSWER = "经核实，某某建筑公司已于本周支付拖欠工资。"
TOLD = "请您保存好工资条和考勤记录，以便核实。"
INTERNAL = "内部：该工地另有20余人欠薪，注意防范聚集。"
LATE_REPLY = "您好，工资条已收到，我们会尽快与用人单位核对。"


def add_staff(server: Server, login: str, *args: str) -> None:
    """`xinfang staff add … --password-stdin`, as an operator would."""
    subprocess.run(
        [sys.executable, "-m", "bot", "staff", "add", login, *args, "--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        env=server.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


class Citizen:
    """The petitioner's web chat, over its JSON API (the cookie is their session)."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def say(self, text: str) -> str:
        body = {"client_id": uuid.uuid4().hex, "text": text}
        async with self.http.post(f"{self.base}/chat/api/messages", json=body) as resp:
            assert resp.status == 200, await resp.text()
            return "\n".join(r["text"] for r in (await resp.json())["replies"])

    async def file_petition(self) -> None:
        async with self.http.get(f"{self.base}/chat") as resp:
            assert resp.status == 200
        last = await self.say("新建")
        for _ in range(40):
            if "确认提交" in last:
                await self.say(CONFIRM_WORD)
                return
            field = field_asked(last)
            last = await self.say(ANSWERS_ZH[field])
            if field == "facts":
                last = await self.say("完成")
        raise AssertionError("the petition never reached its read-back")

    async def inbox(self) -> str:
        async with self.http.get(f"{self.base}/chat/api/history") as resp:
            assert resp.status == 200
            return "\n".join(m["text"] for m in (await resp.json())["messages"])

    async def wait_for(self, text: str) -> None:
        for _ in range(150):
            if text in await self.inbox():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"the petitioner never got: {text}")


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


async def fail_notices(db: Database, number: str) -> tuple[int, int]:
    """The acceptance notice failed on WeChat (45015) and the answer on Telegram (blocked),
    as if the petitioner had come through those channels; returns their outbox ids."""
    async with db.transaction() as conn:
        found = await conn.execute(
            select(outbox.c.id, outbox.c.payload)
            .join(cases, cases.c.id == outbox.c.case_id)
            .where(cases.c.tracking_no == number)
        )
        keys = {r.payload["template"]["key"]: r.id for r in found}
        failed, blocked = keys["push.accepted"], keys["push.answered"]
        for row_id, channel, error in (
            (failed, "wechat", "45015: response out of time limit or subscription is canceled"),
            (blocked, "telegram", "telegram 403: Forbidden: bot was blocked by the user"),
        ):
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(channel=channel, status="failed", attempts=1, last_error=error)
            )
    return failed, blocked


async def act(page: Page, action: str, fields: dict[str, str] | None = None) -> None:
    """Open an action's form on the case page, fill it, submit, expect success."""
    box = page.locator(f"#action-{action}")
    await box.locator("summary").click()
    for name, value in (fields or {}).items():
        control = box.locator(f"[name={name}]")
        if await control.evaluate("e => e.tagName") == "SELECT":
            await control.select_option(value)
        else:
            await control.fill(value)
    await box.locator("button[type=submit]").click()
    await expect(page.locator("p.flash.ok")).to_be_visible()


async def test_staff_work_a_petition_in_the_browser(
    db: Database, db_url: str, tmp_path: Path, browser: Browser
) -> None:
    server = Server(db_url, tmp_path / "data", XINFANG_OUTBOX_POLL_SECONDS="0.05")
    await server.start()
    try:
        add_staff(server, "duban", "--role", "supervisor", "--name", "王督办")
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            citizen = Citizen(http, server.url)
            await citizen.file_petition()
            async with db.read() as conn:
                number = (await conn.execute(select(cases.c.tracking_no))).scalar_one()
            shown = format_tracking_no(number)

            context = await browser.new_context(
                viewport={"width": 1366, "height": 900}, accept_downloads=True, locale="zh-CN"
            )
            page = await context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))

            def console_error(msg: ConsoleMessage) -> None:
                if msg.type == "error":  # CSP violations are reported here
                    problems.append(msg.text)

            page.on("console", console_error)

            # log in: the console sends an anonymous visitor to the login form
            await page.goto(f"{server.url}/staff/")
            await expect(page).to_have_url(re.compile(r"/staff/login\?next="))
            await shot(page, "login")
            await page.fill("input[name=login]", "duban")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await expect(page.locator("h1")).to_have_text("工作概况")
            await expect(page.locator("svg.chart")).to_have_count(3)
            await shot(page, "dashboard")

            # filter the list by region (事发地 西湖区): the filter is a URL
            await page.click("nav >> text=信访事项")
            await page.select_option("select[name=region]", "330106")
            await page.select_option("select[name=status]", "submitted")
            await page.click("#apply-filter")
            await expect(page).to_have_url(re.compile(r"/staff/cases\?.*status=submitted"))
            assert "region=330106" in page.url
            await expect(page.locator("#case-list tbody tr")).to_have_count(1)
            await shot(page, "list")

            # open the case, accept, assign, answer, reply
            await page.click(f"text={shown}")
            await expect(page.locator("h1")).to_contain_text(shown)
            await expect(page.locator("#fields")).to_contain_text(ANSWERS_ZH["request"])
            await shot(page, "case")
            # the two texts of an action: what the petitioner is told, and the internal note
            await act(page, "accept", {"message": TOLD, "note": INTERNAL})
            await expect(page.locator("#case-status")).to_have_text("已受理")
            await expect(page.locator("#timeline div.told")).to_contain_text(TOLD)
            await expect(page.locator("#timeline div.note")).to_contain_text(INTERNAL)
            await shot(page, "case-accepted")
            await act(page, "assign", {"department": "330106-rsj"})
            await expect(page.locator("#department")).to_contain_text("人力资源和社会保障局")
            await act(page, "answer", {"outcome": "supported", "text": ANSWER})
            await expect(page.locator("#case-status")).to_have_text("已答复")
            await act(page, "reply", {"text": REPLY})
            await expect(page.locator("#timeline")).to_contain_text(REPLY)
            await shot(page, "case-answered")
            await citizen.wait_for(REPLY)
            await citizen.wait_for(ANSWER)
            await citizen.wait_for(TOLD)
            assert "注意防范" not in await citizen.inbox()

            # an action not open now is listed with its reason, in the console's language
            await expect(page.locator("#action-close")).to_have_count(0)
            await expect(page.locator("#refused")).to_contain_text("暂不能办结")
            await shot(page, "case-refused")

            # the session expires while a reply is being typed: nothing typed is lost
            case_url = page.url
            box = page.locator("#action-reply")
            await box.locator("summary").click()
            await box.locator("textarea[name=text]").fill(LATE_REPLY)
            await context.clear_cookies()
            await box.locator("button[type=submit]").click()
            await expect(page.locator("p.error")).to_contain_text("内容已保留")
            await page.fill("input[name=login]", "duban")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await expect(page).to_have_url(case_url)
            await expect(page.locator("#action-reply textarea[name=text]")).to_have_value(
                LATE_REPLY
            )
            await shot(page, "case-restored")
            await page.locator("#action-reply button[type=submit]").click()
            await expect(page.locator("p.flash.ok")).to_be_visible()
            await expect(page.locator("#timeline")).to_contain_text(LATE_REPLY)
            await page.reload()  # sent: the draft is forgotten
            await expect(page.locator("#action-reply textarea[name=text]")).to_have_value("")

            # two notices did not go through: retry one on the delivery page
            failed, blocked = await fail_notices(db, number)
            await page.click("nav >> text=投递异常")
            await expect(page.locator("h1")).to_contain_text("投递异常")
            await expect(page.locator("#deliveries tbody tr")).to_have_count(2)
            await expect(page.locator(f"#delivery-{failed}")).to_contain_text("超出微信48小时")
            await expect(page.locator(f"#delivery-{blocked}")).to_contain_text("已屏蔽机器人")
            await shot(page, "deliveries")
            await page.locator(f"#delivery-{blocked} button.retry").click()
            await expect(page.locator("p.flash.ok")).to_have_text("已重新排队 1 条消息。")
            await expect(page.locator("#deliveries tbody tr")).to_have_count(1)
            await shot(page, "deliveries-retried")
            await page.click(f"#delivery-{failed} a.tn")
            await expect(page.locator(f"#notice-{failed}")).to_have_attribute(
                "data-state", "failed"
            )
            await expect(page.locator(f"#notice-{blocked}")).to_have_attribute(
                "data-state", "retrying"
            )
            await shot(page, "case-deliveries")
            timeline = ARTIFACTS / "console-timeline-deliveries.png"
            await page.locator("#timeline").screenshot(path=str(timeline))

            # the assessed measures: pick this year in the period selector, then open the
            # cases behind a figure (the drill-down is a filter of the case list)
            await page.click("nav >> text=工作概况")
            await page.select_option("#period-kind", "year")
            await page.click("#period-show")
            year = datetime.now(ZoneInfo("Asia/Shanghai")).year
            await expect(page.locator("#period-name")).to_have_text(f"{year}年")
            await expect(page.locator("#kpi-finished .n")).to_have_text("1")
            await expect(page.locator("#kpi-participation .kpi-missed")).to_have_text("未达标 1 件")
            await shot(page, "dashboard-kpis")
            await page.click("#kpi-finished a")
            await expect(page.locator("#kpi-note")).to_contain_text(f"已办结 · {year}年")
            await expect(page.locator("#case-list tbody tr")).to_have_count(1)
            await expect(page.locator("#case-list")).to_contain_text(shown)
            await shot(page, "kpi-drilldown")

            # broadcast to the petitioner of this case and watch it finish
            await page.click("nav >> text=群发消息")
            await page.check("input[name=kind][value=case]")
            await page.fill("input[name=tracking_no]", shown)
            await page.fill("textarea[name=text]", BROADCAST)
            await page.click("#preview")
            await expect(page.locator("#recipient-total")).to_have_text("1")
            await expect(page.locator("[data-channel=web]")).to_have_text("1")
            await shot(page, "broadcast-preview")
            await page.click("#send")
            await expect(page.locator("#bc-status")).to_have_attribute(
                "data-status", "done", timeout=15_000
            )
            await expect(page.locator("#bc-sent")).to_have_text("1")
            await expect(page.locator("#bc-pending")).to_have_text("0")
            await expect(page.locator("#cancel")).to_have_count(0)
            await shot(page, "broadcast-done")
            await citizen.wait_for(BROADCAST)

            # export the list as CSV and XLSX, and read the files back
            await page.goto(f"{server.url}/staff/cases?region=330106")
            async with page.expect_download() as csv_info:
                await page.click("#export-csv")
            csv_path = await (await csv_info.value).path()
            rows = list(csv.reader(io.StringIO(Path(csv_path).read_text("utf-8-sig"))))
            assert rows[0][0] == "事项编号" and rows[1][0] == shown
            assert ANSWERS_ZH["request"] in rows[1]
            async with page.expect_download() as xlsx_info:
                await page.click("#export-xlsx")
            download = await xlsx_info.value
            assert download.suggested_filename.endswith(".xlsx")
            data = io.BytesIO(Path(await download.path()).read_bytes())
            sheet = load_workbook(data, read_only=True).worksheets[0]
            values: list[Any] = [row for row in sheet.iter_rows(min_row=2, values_only=True)]
            assert [v[0] for v in values] == [shown]

            # English is one click away; then log out
            await page.click("a.lang")
            await expect(page.locator("h1")).to_have_text("Cases")
            await shot(page, "list-english")
            await page.click("#logout")
            await expect(page).to_have_url(f"{server.url}/staff/login")
            await page.goto(f"{server.url}/staff/cases")
            await expect(page).to_have_url(
                re.compile(r"/staff/login\?next=(/|%2F)staff(/|%2F)cases$")
            )
            assert problems == []
            await context.close()
    finally:
        server.stop()
