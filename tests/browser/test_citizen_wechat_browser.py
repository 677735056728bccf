"""The case page of a WeChat follower in WeChat's browser (a phone, 390×844, a MicroMessenger
User-Agent, Debian's chromium) against `xinfang serve` and the fake WeChat API: opened from
the link in the answer's push, the 订阅通知 consent button (wx-open-subscribe with the
office's templates, wx.config signed for the page's own URL), a rating with a comment, a
复查 request with a reason, and another contact's case "not found" in the same session.

There is no internet here: WeChat's JS-SDK (res.wx.qq.com) is a tiny stand-in served by
Playwright that records wx.config and draws the tag's button from its wxtag-template, as
WeChat does. Screenshots go to test-artifacts/citizen-wechat-*.png for a person to look at.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Route, expect
from sqlalchemy import select, update

from bot.app import build_services
from bot.channels.wechat_subscribe import js_signature
from bot.domain.tracking import format_tracking_no
from bot.settings import Settings
from bot.staff.access import Role, StaffMember
from bot.storage import cases
from bot.storage.db import Database
from bot.storage.tables import contacts, outbox
from tests.browser.conftest import ARTIFACTS
from tests.cases.lifecycle_support import make_case
from tests.channels.wechat.payloads import APP_ID, TOKEN
from tests.fakes_wechat import FakeWeChat
from tests.server import ROOT, Server

pytestmark = pytest.mark.e2e
SECRET_KEY = "browser-wechat-secret-" + "w" * 32
SUPERVISOR = StaffMember(1, "duban", "", Role.SUPERVISOR, ())
OPENID = "o-browser-follower"
SUB_TPLS = ("SUB-LONG-progress", "SUB-ONCE-answer")
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2e) NetType/WIFI "
    "Language/zh_CN"
)
OPINION = "经核实，您反映的路灯损坏问题属实。街道已安排维修，预计本月底前修复。"
OTHER_REQUEST = "另一位信访人的诉求：小区电梯长期停运"

# WeChat's JS-SDK, as far as the page uses it: wx.config, wx.ready, wx.error; once
# configured, the open tag's button drawn from its wxtag-template (WeChat draws it in a
# frame of its own; a constructed stylesheet here, which the page's CSP does not govern)
FAKE_JWEIXIN = r"""
(function () {
  var ready = [];
  window.__wxConfigs = [];
  function draw() {
    document.querySelectorAll("wx-open-subscribe").forEach(function (tag) {
      var source = tag.querySelector('script[type="text/wxtag-template"]');
      if (!source || tag.shadowRoot) return;
      var text = source.textContent;
      var css = (text.match(/<style>([\s\S]*?)<\/style>/) || ["", ""])[1];
      var root = tag.attachShadow({ mode: "open" });
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
      root.innerHTML = text.replace(/<style>[\s\S]*?<\/style>/, "");
    });
  }
  window.wx = {
    config: function (c) {
      window.__wxConfigs.push(c);
      setTimeout(function () { draw(); ready.forEach(function (f) { f(); }); }, 0);
    },
    ready: function (f) { ready.push(f); },
    error: function () {},
    checkJsApi: function () {},
  };
})();
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    server = FakeWeChat(app_id=APP_ID)
    await server.start()
    yield server
    await server.stop()


def config_with_templates(target: Path) -> Path:
    """The shipped config with two 订阅通知 templates in config/wechat.yaml."""
    shutil.copytree(ROOT / "config", target)
    wechat_yaml = target / "wechat.yaml"
    fields = (
        "      fields:\n"
        '        character_string1: {type: character_string, value: "{tracking_no}"}\n'
        '        phrase2: {type: phrase, value: "{status}"}\n'
    )
    text = wechat_yaml.read_text(encoding="utf-8").replace(
        "subscribe:\n  templates: []",
        "subscribe:\n  templates:\n"
        f"    - id: {SUB_TPLS[0]}\n      consent: long\n{fields}"
        f"    - id: {SUB_TPLS[1]}\n      consent: once\n{fields}",
    )
    assert SUB_TPLS[1] in text
    wechat_yaml.write_text(text, encoding="utf-8")
    return target


async def answered_follower_case(settings: Settings) -> tuple[str, str, str]:
    """A WeChat follower's case answered by staff, and another contact's case;
    (number, the link the answer's push carries, the other number)."""
    services = build_services(settings)
    await services.accounts.add("duban", "a long staff passphrase", role=Role.SUPERVISOR)
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    answers = {"request": "小区门口路灯坏了两个月，晚上看不见路，请求维修", "phone": "13912345678"}
    case_id = await make_case(
        services.db,
        two_days_ago,
        user=OPENID,
        category="projects",
        region="330102",
        department="330102-zjj",
        answers=answers,
    )
    other_id = await make_case(
        services.db,
        two_days_ago,
        user="o-another-follower",
        phone="13700001111",
        answers={"request": OTHER_REQUEST},
    )
    async with services.db.transaction() as conn:
        row = await cases.by_id(conn, case_id)
        other = await cases.by_id(conn, other_id)
        assert row is not None and other is not None
        await conn.execute(  # both filed over WeChat
            update(contacts)
            .where(contacts.c.id.in_([row.contact_id, other.contact_id]))
            .values(channel="wechat")
        )
    number = row.tracking_no
    work = services.casework
    await work.act(SUPERVISOR, number, "accept", {"note": ""})
    await work.act(SUPERVISOR, number, "assign", {"department": "330102-zjj", "note": ""})
    await work.act(SUPERVISOR, number, "answer", {"outcome": "supported", "text": OPINION})
    async with services.db.read() as conn:
        texts = [
            str(r.payload.get("text", ""))
            for r in (await conn.execute(select(outbox.c.payload))).all()
        ]
    await services.db.dispose()
    links = [m for t in texts if "出具处理意见" in t for m in re.findall(r"查看详情：(\S+)", t)]
    assert links, texts
    return number, links[-1], other.tracking_no


async def test_wechat_follower_on_a_phone_consents_rates_and_asks_for_review(
    db: Database, db_url: str, tmp_path: Path, browser: Browser, fake: FakeWeChat
) -> None:
    config_dir = config_with_templates(tmp_path / "config")
    server = Server(
        db_url,
        tmp_path / "data",
        XINFANG_SECRET_KEY=SECRET_KEY,
        XINFANG_CONFIG_DIR=str(config_dir),
        XINFANG_WECHAT_TOKEN=TOKEN,
        XINFANG_WECHAT_APP_ID=fake.app_id,
        XINFANG_WECHAT_APP_SECRET=fake.app_secret,
        XINFANG_WECHAT_API_BASE=fake.url,
        XINFANG_WECHAT_MP_BASE=fake.url,
        XINFANG_WECHAT_OAUTH_BASE=fake.url,
    )
    server.env["XINFANG_PUBLIC_URL"] = server.url
    await server.start()
    try:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=db_url,
            data_dir=tmp_path / "data",
            config_dir=config_dir,
            public_url=server.url,
            secret_key=SECRET_KEY,
        )
        number, link, other = await answered_follower_case(settings)
        context = await browser.new_context(
            viewport={"width": 390, "height": 844},
            user_agent=WECHAT_UA,
            locale="zh-CN",
            is_mobile=True,
            has_touch=True,
            device_scale_factor=2,
        )
        sdk_requests: list[str] = []

        async def jweixin(route: Route) -> None:
            sdk_requests.append(route.request.url)
            await route.fulfill(
                status=200, content_type="application/javascript", body=FAKE_JWEIXIN
            )

        await context.route("https://res.wx.qq.com/**", jweixin)
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":  # a CSP violation is reported here
                problems.append(msg.text)

        page.on("console", on_console)

        async def wx_config() -> dict[str, Any]:
            configs: list[dict[str, Any]] = await page.evaluate("window.__wxConfigs")
            assert len(configs) == 1, configs
            return configs[0]

        def signed_for(config: dict[str, Any], url: str) -> bool:
            (ticket,) = fake.tickets
            expected = js_signature(ticket, config["nonceStr"], config["timestamp"], url)
            return bool(config["signature"] == expected)

        await page.goto(link)
        assert page.url == f"{server.url}/my/cases/{number}", "the token left the address"
        await expect(page.locator(".badge.big")).to_have_text("已答复")
        await expect(page.locator(".opinion-text")).to_have_text(OPINION)

        # the consent button: the open tag with the office's templates, configured for
        # this page's own address with the shared jsapi_ticket
        tag = page.locator("wx-open-subscribe#subscribe-btn")
        await expect(tag).to_have_attribute("template", ",".join(SUB_TPLS))
        await expect(page.locator("#h-consent")).to_have_text("办理进度提醒")
        button = tag.get_by_role("button", name="接收通知")
        await expect(button).to_be_visible()
        config = await wx_config()
        assert config["appId"] == fake.app_id
        assert config["openTagList"] == ["wx-open-subscribe"]
        assert signed_for(config, page.url)
        assert sdk_requests == ["https://res.wx.qq.com/open/js/jweixin-1.6.0.js"]
        height = await button.evaluate("b => b.getBoundingClientRect().height")
        assert height >= 60, "a big button for elderly readers"
        await page.screenshot(path=str(ARTIFACTS / "citizen-wechat-case.png"), full_page=True)
        await page.locator("#consent").scroll_into_view_if_needed()
        await page.screenshot(path=str(ARTIFACTS / "citizen-wechat-consent.png"))

        # 大字
        await page.click("#size-toggle")
        await expect(page.locator("html")).to_have_class("large")
        await page.locator("#consent").scroll_into_view_if_needed()
        await page.screenshot(path=str(ARTIFACTS / "citizen-wechat-consent-large.png"))
        await page.screenshot(path=str(ARTIFACTS / "citizen-wechat-case-large.png"), full_page=True)

        # 评价 with a comment; the page after it is signed for its own address again
        await page.fill("#comment", "路灯已经修好了，谢谢")
        await page.get_by_role("button", name="满意", exact=True).click()
        await expect(page.locator(".ok-box")).to_contain_text("感谢您的评价")
        assert page.url.endswith("?done=rate")
        await expect(tag.get_by_role("button", name="接收通知")).to_be_visible()
        assert signed_for(await wx_config(), page.url)

        # 复查 with a reason
        await page.fill("#reason", "只修好了一盏，另一盏还是不亮")
        await page.get_by_role("button", name="提交复查申请").click()
        await expect(page.locator(".ok-box")).to_contain_text("复查申请")
        await expect(page.locator(".badge.big")).to_have_text("已申请复查")
        await page.screenshot(
            path=str(ARTIFACTS / "citizen-wechat-review-requested.png"), full_page=True
        )

        # 我的事项: the same button on the list
        await page.get_by_role("link", name="返回我的事项").first.click()
        await expect(page.locator(".case-card")).to_have_count(1)
        await expect(tag).to_have_attribute("template", ",".join(SUB_TPLS))
        assert signed_for(await wx_config(), f"{server.url}/my")
        await page.screenshot(path=str(ARTIFACTS / "citizen-wechat-list.png"), full_page=True)

        assert problems == []  # the not-found page below logs its own 404
        # another contact's case number, in the same session: not found, nothing of it
        response = await page.goto(f"{server.url}/my/cases/{other}")
        assert response is not None and response.status == 404
        await expect(page.locator("main")).to_contain_text("没有找到这件事项")
        content = await page.content()
        assert OTHER_REQUEST not in content
        assert other not in content and format_tracking_no(other) not in content
        assert "wx-open-subscribe" not in content
        await page.screenshot(path=str(ARTIFACTS / "citizen-wechat-not-found.png"))

        assert fake.ticket_requests == 1, "one shared ticket for every page"
        in_wechat = len(sdk_requests)
        await context.close()

        # the same link in an ordinary phone browser: where to turn reminders on, no JS-SDK
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        await context.route("https://res.wx.qq.com/**", jweixin)
        page = await context.new_page()
        await page.goto(link)
        await expect(page.locator("#consent")).to_contain_text("请在微信中打开本页")
        await expect(page.locator("wx-open-subscribe")).to_have_count(0)
        await page.locator("#consent").scroll_into_view_if_needed()
        await page.screenshot(path=str(ARTIFACTS / "citizen-wechat-outside.png"))
        assert len(sdk_requests) == in_wechat, "no JS-SDK outside WeChat"
        await context.close()

        async with db.read() as conn:
            row = await cases.by_tracking_no(conn, number)
        assert row is not None
        assert row.status == "review_requested" and row.rating == "satisfied"
    finally:
        server.stop()
