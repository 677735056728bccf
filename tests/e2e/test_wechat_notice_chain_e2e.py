"""Issue 14, played whole against a running `xinfang serve`: a notice 60 days after the
citizen's last message reaches them through each step of WeChat's chain, and the case page
it links to shows the answer text in full.

The citizen files over the WeChat webhook (safe mode) with a mainland mobile and accepts a
long-term subscription template; 60 days pass (WeChat's 48-hour window is long closed);
staff act in-process on the same database and the server's outbox worker sends:

1. 受理: a subscription notification (long-term consent), opening the signed case link;
2. the citizen turns notifications off, then 交办: a template message with the link;
3. the template route fails for good, then 答复 with a long opinion: one SMS, whose link
   opens the page with the opinion in full.

Every message is asserted on what the fake platforms received; internal notes appear on
no page and in no message. SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import select, update

from bot.app import build_services
from bot.clock import utc_now
from bot.notice_routing import FALLBACK
from bot.services import Services
from bot.settings import Settings
from bot.staff.access import Role, StaffMember
from bot.storage import wechat_consents as consents
from bot.storage.db import Database
from bot.storage.tables import case_events, cases, contacts
from tests.channels.wechat.payloads import AES_KEY, APP_ID, TOKEN
from tests.channels.wechat.test_reports_and_scenes import report
from tests.conftest import CONFIG_DIR
from tests.e2e.wechat_support import OPENID, WeChatUser, wait_for
from tests.fakes_sms import SDK_APP_ID, SECRET_ID, SECRET_KEY, FakeSms
from tests.fakes_wechat import FakeWeChat
from tests.server import Server

pytestmark = pytest.mark.e2e

SUB_TPL = "SUB-LONG-progress-e2e"
SHIPPED_ORIGIN = "https://xinfang.example.gov.cn"  # the address config/sms.yaml's texts hold
MOBILE = "+8613812345678"  # tests/petition.py's "１３８ 1234-5678"
DAY = 86400
NOTES = {
    "accept": "内部备注甲：来信人情绪激动，注意稳控。",
    "assign": "内部备注乙：请承办单位先与公司负责人沟通。",
    "answer": "内部备注丙：本意见经分管领导审签。",
}
OPINION = (
    "经调查核实，您反映的某某建筑公司拖欠工资问题属实。\n"
    "一、区人力资源和社会保障局已于2026年11月向该公司下达劳动保障监察责令改正决定书，"
    "责令其在十五日内足额支付您及其他务工人员2026年8月至10月的工资共计人民币四万二千元。\n"
    "二、该公司已于12月1日支付第一期款项，剩余款项承诺于12月20日前付清，"
    "区人力资源和社会保障局将全程监督，逾期未付的，将依法申请人民法院强制执行，"
    "并将该公司列入拖欠农民工工资失信联合惩戒对象名单。\n"
    "三、如您对本处理意见不服，可自收到本意见之日起三十日内，"
    "向上一级行政机关提出复查申请。\n"
    "感谢您对我们工作的信任与支持。"
)
SUB_FIELDS = (
    '        character_string1: {type: character_string, value: "{tracking_no}"}\n'
    '        phrase2: {type: phrase, value: "{status}"}\n'
    '        thing3: {type: thing, value: "{thing}"}\n'
    '        time4: {type: time, value: "{time}"}\n'
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    server = FakeWeChat(app_id=APP_ID)
    server.subscribe_templates[SUB_TPL] = True  # a long-term template of the account
    await server.start()
    yield server
    await server.stop()


def config_for(tmp_path: Path, public_url: str) -> Path:
    """config/ with one long-term subscription template, and the SMS texts naming this
    server's origin as the case-page address (as the office's approved texts name its own)."""
    config_dir = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config_dir)
    wechat_yaml = config_dir / "wechat.yaml"
    text = wechat_yaml.read_text(encoding="utf-8")
    added = text.replace(
        "subscribe:\n  templates: []",
        f"subscribe:\n  templates:\n    - id: {SUB_TPL}\n      consent: long\n"
        f"      fields:\n{SUB_FIELDS}",
    )
    assert added != text
    wechat_yaml.write_text(added, encoding="utf-8")
    sms_yaml = config_dir / "sms.yaml"
    text = sms_yaml.read_text(encoding="utf-8")
    assert SHIPPED_ORIGIN in text
    sms_yaml.write_text(text.replace(SHIPPED_ORIGIN, public_url), encoding="utf-8")
    return config_dir


def popup(accepted: str) -> str:
    """WeChat's report of the consent pop-up: the citizen accepted one template."""
    item = {"TemplateId": SUB_TPL, "SubscribeStatusString": accepted, "PopupScene": 1}
    return report("subscribe_msg_popup_event", "SubscribeMsgPopupEvent", [item], openid=OPENID)


def change(status: str) -> str:
    """WeChat's report of the citizen switching the template in the notification settings."""
    item = {"TemplateId": SUB_TPL, "SubscribeStatusString": status}
    return report("subscribe_msg_change_event", "SubscribeMsgChangeEvent", [item], openid=OPENID)


async def open_page(url: str, pages: list[str]) -> str:
    """Open a link as the citizen's browser does (a fresh one: no cookies yet); the HTML."""
    # unsafe: the test server's host is an IP address, whose cookies aiohttp drops otherwise
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http, http.get(url) as resp:
        html = await resp.text()
        assert resp.status == 200, html[:500]
        assert "?k=" not in str(resp.url)  # the token left the address
    pages.append(html)
    return html


def page_text(html: str) -> str:
    """The page's visible text, whitespace-normalised (<br> and newlines alike)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def status_badge(html: str) -> str:
    found = re.search(r'class="badge big[^"]*"[^>]*>([^<]+)<', html)
    assert found is not None, html[:2000]
    return found.group(1).strip()


def values(sent: dict[str, Any]) -> dict[str, str]:
    return {name: entry["value"] for name, entry in sent["data"].items()}


async def test_a_notice_60_days_on_reaches_the_citizen_through_each_step(
    db: Database, db_url: str, tmp_path: Path, fake: FakeWeChat
) -> None:
    server = Server(db_url, tmp_path / "data")
    config_dir = config_for(tmp_path, server.url)
    sms_config = yaml.safe_load((config_dir / "sms.yaml").read_text("utf-8"))
    sms = FakeSms.from_config(sms_config)
    await sms.start()
    settings: dict[str, Any] = {
        "config_dir": str(config_dir),
        "public_url": server.url,  # the links in notices open this server's case page
        "secret_key": "e2e-secret-" + "x" * 32,
        "wechat_token": TOKEN,
        "wechat_app_id": APP_ID,
        "wechat_app_secret": fake.app_secret,
        "wechat_aes_key": AES_KEY,
        "wechat_template_id": fake.template_id,
        "wechat_api_base": fake.url,
        "sms_secret_id": SECRET_ID,
        "sms_secret_key": SECRET_KEY,
        "sms_sdk_app_id": SDK_APP_ID,
        "sms_endpoint": sms.url,
    }
    server.env.update({f"XINFANG_{k.upper()}": v for k, v in settings.items()})
    staff: Services | None = None
    pages: list[str] = []
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            user = WeChatUser(http, server.url, fake)
            done = await user.file_petition()
            async with db.read() as conn:
                case = (await conn.execute(select(cases))).one()
            number = case.tracking_no
            assert number[2:8] in done
            # the consent pop-up on the case page: 长期订阅 accepted (WeChat keeps it too)
            assert await user.post(popup("accept"), opens_window=False) == ""
            fake.grant(OPENID, SUB_TPL, long_term=True)
            async with db.read() as conn:
                [consent] = (await consents.of_openid(conn, OPENID, [SUB_TPL])).values()
            assert consent.long_term

            # 60 days of silence: WeChat's 48-hour window is long closed (the bot keeps no
            # window of its own, it goes by WeChat's 45015; its last-message record is aged
            # all the same)
            fake.clock_offset = 60 * DAY
            async with db.transaction() as conn:
                await conn.execute(
                    update(contacts).values(last_inbound_at=utc_now() - timedelta(days=60))
                )
            custom_before = len(fake.custom)

            staff = build_services(
                Settings(  # type: ignore[call-arg]
                    _env_file=None, database_url=db_url, data_dir=tmp_path / "staff", **settings
                )
            )
            account = await staff.accounts.add(
                "duban", "a long staff passphrase", role=Role.SUPERVISOR
            )
            member = StaffMember(account.id, "duban", "", Role.SUPERVISOR, ())
            work = staff.casework
            link_prefix = f"{server.url}/my/cases/{number}?k="

            # 1. 受理: a subscription notification under the long-term consent
            await work.act(member, number, "accept", {"note": NOTES["accept"]})
            await wait_for(lambda: len(fake.subscriptions) == 1)
            sub = fake.subscriptions[0]
            assert (sub["touser"], sub["template_id"]) == (OPENID, SUB_TPL)
            assert values(sub)["phrase2"] == "已受理"
            assert values(sub)["character_string1"].replace("-", "") == number
            assert sub["page"].startswith(link_prefix)
            assert status_badge(await open_page(sub["page"], pages)) == "已受理"

            # 2. the citizen turns the notifications off; 交办 goes as a template message
            assert await user.post(change("reject"), opens_window=False) == ""
            fake.long_consents.discard((OPENID, SUB_TPL))
            async with db.read() as conn:
                [consent] = (await consents.of_openid(conn, OPENID, [SUB_TPL])).values()
            assert not consent.usable
            await work.act(member, number, "assign", {"note": NOTES["assign"]})
            await wait_for(lambda: len(fake.templates) == 1)
            sent = fake.templates[0]
            assert sent["touser"] == OPENID and sent["template_id"] == fake.template_id
            data = values(sent)
            assert "first" not in data and "remark" not in data  # the 2023 rules
            assert data["phrase2"] == "已交办"
            assert sent["url"].startswith(link_prefix)
            assert status_badge(await open_page(sent["url"], pages)) == "已交办"

            # 3. the template route fails for good: 答复 falls back to SMS, once
            fake.inject("errcode", "template", errcode=43004)
            answer = {"outcome": "supported", "text": OPINION, "note": NOTES["answer"]}
            await work.act(member, number, "answer", answer)
            await wait_for(lambda: len(sms.sent) == 1)
            [texted] = sms.sent
            answered = sms_config["templates"]["push.answered"]  # [tracking_no, due, link]
            assert texted.phone == MOBILE and texted.template_id == answered["id"]
            assert texted.params[0] == number
            link = re.search(r"https?://\S+", texted.text)
            assert link is not None, texted.text
            assert link.group(0).startswith(link_prefix)
            assert link.group(0).endswith(texted.params[-1])  # the link parameter
            html = await open_page(link.group(0), pages)
            assert status_badge(html) == "已答复"
            # the opinion in full, verbatim: its line breaks kept (the page shows it pre-wrap)
            shown = re.findall(r'<p class="opinion-text">(.*?)</p>', html, flags=re.S)
            assert [unescape(t) for t in shown] == [OPINION]
            assert " ".join(OPINION.split()) in page_text(html)

            # nothing more goes out: each notice went once, by one route each
            await asyncio.sleep(1.0)  # ten polls of the outbox worker
            async with db.read() as conn:
                rows = (await conn.execute(select(contacts.c.channel))).all()
                fallbacks = (
                    await conn.execute(
                        select(case_events).where(
                            case_events.c.case_id == case.id, case_events.c.kind == FALLBACK
                        )
                    )
                ).all()
            assert sorted(r.channel for r in rows) == ["sms", "wechat"]
            states = await staff.deliveries.of_case(case.id, case.contact_id)
            timeline = sorted(
                [(n.notice, n.delivery.channel, n.state) for n in notices]
                for notices in states.values()
            )
        # the WeChat row that failed names every step it tried; the SMS is on the timeline
        [failed] = [n for ns in states.values() for n in ns if n.state == "failed"]
        for step in ("45015", f"no consent for subscription {SUB_TPL}", "template 43004"):
            assert step in failed.delivery.last_error, failed.delivery.last_error
        [routed] = fallbacks
        assert routed.public is False and routed.data["outbox_id"] == failed.delivery.id
        # the console's delivery states under each timeline event: the channel that carried
        # it (WeChat's own route, subscription or template, is not recorded apart)
        assert timeline == [
            [("accepted", "wechat", "sent")],
            [
                ("answered", "wechat", "failed"),
                ("followup", "wechat", "scheduled"),
                ("answered", "sms", "sent"),
            ],
            [("assigned", "wechat", "sent")],
        ], timeline
        assert len(fake.subscriptions) == 1 and len(fake.templates) == 1 and len(sms.sent) == 1
        assert len(fake.custom) == custom_before  # no customer-service message got through

        # no internal note on any page or in any message the citizen received
        said = json.dumps(
            [fake.subscriptions, fake.templates, fake.custom, [s.text for s in sms.sent]],
            ensure_ascii=False,
        )
        for note in NOTES.values():
            assert note not in said
            assert all(note not in page for page in pages)
    finally:
        server.stop()
        await sms.stop()
        if staff is not None:
            for name in ("sms", "wechat"):
                await staff.channels[name].api.close()  # type: ignore[attr-defined]
            await staff.db.dispose()
