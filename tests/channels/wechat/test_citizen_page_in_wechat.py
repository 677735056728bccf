"""The citizen's pages inside WeChat: 网页授权 snsapi_base on /my (WeChat's browser is sent
to the authorize URL, comes back with a code, and the follower's own cases show, with no
tracking number or phone check), and the consent page /my/subscribe with a wx.config
signed by the shared jsapi_ticket. The fake WeChat API plays WeChat's servers and browser.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from sqlalchemy import update
from yarl import URL

from bot.app import Services, build_services, create_app
from bot.channels.wechat_oauth import STATE, authorize_url
from bot.channels.wechat_subscribe import js_signature
from bot.settings import Settings
from bot.storage import cases, wechat_consents
from bot.storage.tables import contacts
from tests.cases.lifecycle_support import make_case
from tests.fakes_wechat import FakeWeChat

PUBLIC = "https://xinfang.example.gov.cn"
SECRET_KEY = "test-secret-key-" + "y" * 32
OPENID = "o-follower-page"
IN_WECHAT = {
    "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2e) NetType/WIFI"
}
SUB_TPL = "SUB-LONG-progress"


def test_js_sdk_signature_matches_the_documented_example() -> None:
    """附录1 of the JS-SDK guide: this ticket, nonce, timestamp and URL sign to f4d90da…"""
    ticket = (
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    )
    signature = js_signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com")
    assert signature == "f4d90daf4b3bca3078ab155816175ba34c443a7b"


def test_authorize_url_has_wechat_s_parameter_order() -> None:
    url = authorize_url("https://open.weixin.qq.com", "wx123", PUBLIC + "/my?x=1")
    assert url == (
        "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx123"
        "&redirect_uri=https%3A%2F%2Fxinfang.example.gov.cn%2Fmy%3Fx%3D1"
        f"&response_type=code&scope=snsapi_base&state={STATE}#wechat_redirect"
    )


@pytest.fixture
async def services(db: Any, db_url: str, fake: FakeWeChat, tmp_path: Any) -> Services:
    config_dir = tmp_path / "config"
    import shutil

    from tests.conftest import CONFIG_DIR

    shutil.copytree(CONFIG_DIR, config_dir)
    wechat_yaml = config_dir / "wechat.yaml"
    text = wechat_yaml.read_text(encoding="utf-8").replace(
        "subscribe:\n  templates: []",
        "subscribe:\n  templates:\n    - id: " + SUB_TPL + "\n      consent: long\n"
        "      fields:\n"
        '        character_string1: {type: character_string, value: "{tracking_no}"}\n'
        '        phrase2: {type: phrase, value: "{status}"}\n',
    )
    assert SUB_TPL in text
    wechat_yaml.write_text(text, encoding="utf-8")
    return build_services(wechat_settings(db_url, fake, tmp_path, config_dir))


def wechat_settings(db_url: str, fake: FakeWeChat, tmp_path: Any, config_dir: Any) -> Settings:
    """A WeChat office against the fake, its pages on PUBLIC, reading ``config_dir``."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=db_url,
        data_dir=tmp_path / "data",
        config_dir=config_dir,
        public_url=PUBLIC,
        secret_key=SECRET_KEY,
        wechat_token="tok",
        wechat_app_id=fake.app_id,
        wechat_app_secret=fake.app_secret,
        wechat_api_base=fake.url,
        wechat_mp_base=fake.url,
        wechat_oauth_base=fake.url,
    )


@pytest.fixture
async def client(services: Services, aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(services, run_worker=False))


async def follower_case(services: Services, openid: str = OPENID) -> str:
    """A case filed by a WeChat follower."""
    case_id = await make_case(services.db, datetime.now(UTC) - timedelta(days=2), user=openid)
    async with services.db.transaction() as conn:
        row = await cases.by_id(conn, case_id)
        assert row is not None
        await conn.execute(
            update(contacts).where(contacts.c.id == row.contact_id).values(channel="wechat")
        )
    return row.tracking_no


async def wechat_browser(client: Any, fake: FakeWeChat, path: str) -> Any:
    """Open ``path`` as WeChat's browser does: through the authorize redirect."""
    first = await client.get(path, headers=IN_WECHAT, allow_redirects=False)
    assert first.status == 302
    to_wechat = first.headers["Location"]
    assert to_wechat.startswith(fake.url + "/connect/oauth2/authorize?appid=" + fake.app_id)
    # WeChat, not our server, answers this
    async with (
        aiohttp.ClientSession() as browser,
        # as a browser sends it: the escapes of redirect_uri kept (the fake checks them)
        browser.get(URL(to_wechat.split("#")[0], encoded=True), allow_redirects=False) as back,
    ):
        assert back.status == 302
        location = back.headers["Location"]
    assert location.startswith(PUBLIC + path)
    returned = urlsplit(location)
    assert parse_qs(returned.query)["state"] == [STATE]
    # back on our site with the code: a session, and the code leaves the address
    landed = await client.get(
        f"{returned.path}?{returned.query}", headers=IN_WECHAT, allow_redirects=False
    )
    assert landed.status == 303
    assert "code=" not in landed.headers["Location"]
    assert "xf_my" in landed.cookies
    return await client.get(landed.headers["Location"], headers=IN_WECHAT)


async def test_snsapi_base_shows_the_follower_s_own_cases(
    client: Any, services: Services, fake: FakeWeChat
) -> None:
    mine = await follower_case(services)
    theirs = await follower_case(services, openid="o-someone-else")
    fake.browser_openid = OPENID
    page = await wechat_browser(client, fake, "/my")
    html = await page.text()
    assert page.status == 200
    assert mine in html and theirs not in html  # no tracking number, no phone asked
    # the case page itself, in the same session; another follower's case is not found
    assert (await client.get(f"/my/cases/{mine}")).status == 200
    assert (await client.get(f"/my/cases/{theirs}")).status == 404


async def test_a_case_link_path_survives_the_authorization(
    client: Any, services: Services, fake: FakeWeChat
) -> None:
    mine = await follower_case(services)
    fake.browser_openid = OPENID
    page = await wechat_browser(client, fake, f"/my/cases/{mine}")
    assert page.status == 200 and mine[-4:] in await page.text()


@pytest.mark.parametrize("problem", ["invalid", "used", "snapshot"])
async def test_a_bad_code_opens_nothing_and_does_not_loop(
    client: Any, services: Services, fake: FakeWeChat, problem: str
) -> None:
    await follower_case(services)
    code = "not-a-code"
    if problem == "used":
        code = fake.issue_code(OPENID)
        fake.used_codes.add(code)
        fake.oauth_codes.pop(code)
    if problem == "snapshot":  # a 快照页 visitor: a placeholder openid
        code = fake.issue_code(OPENID, snapshot=True)
    page = await client.get(
        f"/my?code={code}&state={STATE}", headers=IN_WECHAT, allow_redirects=False
    )
    assert page.status == 403  # "open it from the menu", not another redirect
    assert "xf_my" not in page.cookies


async def test_outside_wechat_nobody_is_redirected(client: Any, services: Services) -> None:
    page = await client.get("/my", allow_redirects=False)
    assert page.status == 403  # as before: a link or the web chat's session


async def test_the_consent_page_carries_a_signed_config_for_its_own_url(
    client: Any, services: Services, fake: FakeWeChat
) -> None:
    await follower_case(services)
    fake.browser_openid = OPENID
    page = await wechat_browser(client, fake, "/my/subscribe")
    html = await page.text()
    assert f'template="{SUB_TPL}"' in html and "<wx-open-subscribe" in html
    assert "res.wx.qq.com" in page.headers["Content-Security-Policy"]
    import html as html_lib
    import json
    import re

    found = re.search(r'data-wx-config="([^"]+)"', html)
    assert found is not None
    config = json.loads(html_lib.unescape(found.group(1)))
    assert config["openTagList"] == ["wx-open-subscribe"] and config["appId"] == fake.app_id
    (ticket,) = fake.tickets
    expected = js_signature(
        ticket, config["nonceStr"], config["timestamp"], PUBLIC + "/my/subscribe"
    )
    assert config["signature"] == expected
    # a second page view signs with the same shared ticket: no second getticket call
    again = await client.get("/my/subscribe", headers=IN_WECHAT)
    assert again.status == 200 and fake.ticket_requests == 1
    # the list page of a WeChat follower carries the same button itself
    listed = await (await client.get("/my", headers=IN_WECHAT)).text()
    assert f'template="{SUB_TPL}"' in listed and "/my/subscribe" not in listed


async def test_the_consent_page_outside_wechat_says_where_to_open_it(
    client: Any, services: Services, fake: FakeWeChat
) -> None:
    """A session from a case link, in an ordinary browser: no JS-SDK, a hint instead."""
    from bot.case_links import LINK, sign

    await follower_case(services)
    async with services.db.read() as conn:
        from sqlalchemy import select

        contact_id = (
            await conn.execute(select(contacts.c.id).where(contacts.c.address == OPENID))
        ).scalar_one()
    token = sign(SECRET_KEY, LINK, contact_id, datetime.now(UTC) + timedelta(days=1))
    opened = await client.get(f"/my?k={token}")
    assert opened.status == 200
    page = await client.get("/my/subscribe")
    html = await page.text()
    assert "请在微信中打开本页" in html and "res.wx.qq.com/open/js" not in html
    assert fake.ticket_requests == 0


async def test_the_jsapi_ticket_is_cached_and_survives_a_revoked_token(
    db: Any, fake: FakeWeChat
) -> None:
    from sqlalchemy import delete

    from bot.channels.wechat_api import TICKET_KEY
    from bot.storage.tables import kv
    from tests.channels.wechat.conftest import make_api

    api = make_api(db, fake)
    first = await api.jsapi_ticket()
    assert await api.jsapi_ticket() == first and fake.ticket_requests == 1
    async with db.transaction() as conn:  # the ticket ran out …
        await conn.execute(delete(kv).where(kv.c.key == TICKET_KEY))
    fake.revoke_tokens()  # … and another refresh made our token invalid (40001)
    second = await api.jsapi_ticket()
    assert second != first and second in fake.tickets
    assert (fake.token_requests, fake.ticket_requests) == (2, 3)
    await api.close()


# -- the consent block on /my and the case page -----------------------------------------


def wx_config_of(html: str) -> dict[str, Any]:
    """The wx.config a page carries for my-subscribe.js."""
    import html as html_lib
    import json
    import re

    found = re.search(r'data-wx-config="([^"]+)"', html)
    assert found is not None, "no wx.config on the page"
    config: dict[str, Any] = json.loads(html_lib.unescape(found.group(1)))
    return config


async def link_session(client: Any, services: Services, address: str) -> None:
    """A session opened by a case link (as a push carries it), for the contact ``address``."""
    from sqlalchemy import select

    from bot.case_links import LINK, sign

    async with services.db.read() as conn:
        contact_id = (
            await conn.execute(select(contacts.c.id).where(contacts.c.address == address))
        ).scalar_one()
    token = sign(SECRET_KEY, LINK, contact_id, datetime.now(UTC) + timedelta(days=1))
    assert (await client.get(f"/my?k={token}")).status == 200


async def test_the_case_page_in_wechat_carries_the_button_signed_for_its_own_url(
    client: Any, services: Services, fake: FakeWeChat
) -> None:
    mine = await follower_case(services)
    fake.browser_openid = OPENID
    page = await wechat_browser(client, fake, f"/my/cases/{mine}")
    html = await page.text()
    assert page.status == 200 and mine[-4:] in html
    assert f'<wx-open-subscribe template="{SUB_TPL}"' in html
    assert "办理进度提醒" in html and "接收通知" in html
    assert '<script src="https://res.wx.qq.com/open/js/jweixin-1.6.0.js">' in html
    assert "my-subscribe.js" in html
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self' https://res.wx.qq.com https://res2.wx.qq.com;" in csp
    config = wx_config_of(html)
    assert config["appId"] == fake.app_id and config["openTagList"] == ["wx-open-subscribe"]
    (ticket,) = fake.tickets
    url = PUBLIC + f"/my/cases/{mine}"  # the page's own address, as WeChat's browser shows it
    assert config["signature"] == js_signature(ticket, config["nonceStr"], config["timestamp"], url)
    # a query is part of the signed URL (the page after an action: ?done=rate)
    again = await client.get(f"/my/cases/{mine}?done=rate", headers=IN_WECHAT)
    signed = wx_config_of(await again.text())
    assert signed["signature"] == js_signature(
        ticket, signed["nonceStr"], signed["timestamp"], url + "?done=rate"
    )
    assert fake.ticket_requests == 1  # the shared ticket, not one per page


async def test_outside_wechat_the_pages_say_where_to_turn_reminders_on(
    client: Any, services: Services, fake: FakeWeChat
) -> None:
    mine = await follower_case(services)
    await link_session(client, services, OPENID)
    for path in (f"/my/cases/{mine}", "/my"):
        page = await client.get(path)
        html = await page.text()
        assert page.status == 200
        assert "请在微信中打开本页，即可开启办理进度提醒。" in html
        assert "<wx-open-subscribe" not in html and "res.wx.qq.com" not in html
        assert "my-subscribe.js" not in html
        csp = page.headers["Content-Security-Policy"]
        assert "wx.qq.com" not in csp and "script-src 'self';" in csp
    assert fake.ticket_requests == 0


async def test_a_web_chat_contact_s_case_page_has_no_block(
    client: Any, services: Services, fake: FakeWeChat
) -> None:
    """A web-chat citizen, even when the link is opened in WeChat's browser."""
    case_id = await make_case(services.db, datetime.now(UTC), user="web-visitor")
    async with services.db.read() as conn:
        row = await cases.by_id(conn, case_id)
    assert row is not None
    await link_session(client, services, "web-visitor")
    for headers in ({}, IN_WECHAT):
        page = await client.get(f"/my/cases/{row.tracking_no}", headers=headers)
        html = await page.text()
        assert page.status == 200 and row.tracking_no[-4:] in html
        assert 'id="consent"' not in html and "wx-open-subscribe" not in html
        assert "办理进度提醒" not in html
        assert "wx.qq.com" not in page.headers["Content-Security-Policy"]
    assert fake.ticket_requests == 0


async def test_without_a_jsapi_ticket_the_page_works_without_the_block(
    client: Any, services: Services, fake: FakeWeChat, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = await follower_case(services)
    await link_session(client, services, OPENID)
    fake.inject("errcode", "ticket", errcode=45009)  # the day's getticket quota is used up
    page = await client.get(f"/my/cases/{mine}", headers=IN_WECHAT)
    html = await page.text()
    assert page.status == 200 and mine[-4:] in html
    assert 'id="consent"' not in html
    assert "wx.qq.com" not in page.headers["Content-Security-Policy"]
    captured = capsys.readouterr()  # stdout, or stderr once logging was configured
    assert "wechat.jsapi_ticket_failed" in captured.out + captured.err


async def test_without_subscribe_templates_there_is_no_block(
    db: Any, db_url: str, fake: FakeWeChat, tmp_path: Any, aiohttp_client: Any
) -> None:
    """The shipped config/wechat.yaml names no 订阅通知 template: nothing to consent to."""
    from tests.conftest import CONFIG_DIR

    services = build_services(wechat_settings(db_url, fake, tmp_path, CONFIG_DIR))
    client = await aiohttp_client(create_app(services, run_worker=False))
    mine = await follower_case(services)
    await link_session(client, services, OPENID)
    for path in (f"/my/cases/{mine}", "/my"):
        page = await client.get(path, headers=IN_WECHAT)
        assert page.status == 200
        assert 'id="consent"' not in await page.text()
    assert fake.ticket_requests == 0


async def test_a_follower_with_long_term_consent_is_told_it_is_on(
    client: Any, services: Services, fake: FakeWeChat
) -> None:
    """Nothing left to ask: the block says reminders are on instead of offering the button;
    once turned off in WeChat, the button is back."""
    await follower_case(services)
    fake.browser_openid = OPENID
    async with services.db.transaction() as conn:
        await wechat_consents.grant(conn, OPENID, SUB_TPL, long_term=True, now=datetime.now(UTC))
    html = await (await wechat_browser(client, fake, "/my")).text()
    assert "您已开启办理进度提醒" in html and "<wx-open-subscribe" not in html
    async with services.db.transaction() as conn:
        await wechat_consents.revoke(conn, OPENID, SUB_TPL, datetime.now(UTC))
    html = await (await client.get("/my", headers=IN_WECHAT)).text()
    assert "您已开启办理进度提醒" not in html and f'template="{SUB_TPL}"' in html
