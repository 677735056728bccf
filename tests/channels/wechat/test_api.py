"""The API client and the channel's send() against the fake WeChat API (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.channels.base import SendError
from bot.channels.wechat import WeChatChannel
from bot.channels.wechat_api import WeChatApiError
from bot.channels.wechat_config import WeChatConfigError, load_config
from bot.messages import Address, Choice, OutboundMessage, Reply
from bot.storage.db import Database
from tests.channels.wechat.conftest import make_api
from tests.conftest import CONFIG_DIR
from tests.fakes_wechat import FakeWeChat

OPENID = "o-citizen-1"


LINK = "https://xinfang.example.gov.cn/my/cases/XF2611230000017?k=signed"
NOTICE = {
    "key": "push.accepted",
    "tracking_no": "XF2611230000017",  # canonical, as the outbox row carries it
    "event_id": 41,
    "at": "2026-11-23T01:30:00+00:00",
}


def out(text: str, template: dict[str, Any] | None = None, kind: str = "push") -> OutboundMessage:
    return OutboundMessage(
        address=Address("wechat", OPENID),
        reply=Reply(text),
        kind=kind,
        outbox_id=7,
        idempotency_key="xf-outbox-7",
        template=template or {},
    )


def channel(
    db: Database,
    fake: FakeWeChat,
    template_id: str = "",
    timeout: float = 5.0,
) -> WeChatChannel:
    return WeChatChannel(
        make_api(db, fake, timeout),
        load_config(CONFIG_DIR),
        template_id=template_id,
    )


async def test_custom_message_within_window_with_numbered_choices(
    db: Database, fake: FakeWeChat
) -> None:
    ch = channel(db, fake)
    fake.user_wrote(OPENID, ago_seconds=3600)
    msg = OutboundMessage(
        address=Address("wechat", OPENID),
        reply=Reply("请选择：", (Choice("a", "建议意见"), Choice("b", "申诉求决"))),
    )
    await ch.send(msg)
    assert fake.custom == [{"touser": OPENID, "content": "请选择：\n1． 建议意见\n2． 申诉求决"}]
    await ch.api.close()


async def test_outside_48_hours_goes_out_as_a_2023_template_with_a_link(
    db: Database, fake: FakeWeChat
) -> None:
    ch = channel(db, fake, template_id=fake.template_id)
    fake.user_wrote(OPENID, ago_seconds=49 * 3600)
    linked = {**NOTICE, "url": LINK}  # the signed case page link the lifecycle wrote
    result = await ch.send(out("您的信访事项 XF261123-000001-7 已受理。", linked))
    assert fake.custom == []
    assert len(fake.templates) == 1 and result.external_id == "1"
    body = fake.templates[0]
    assert body["data"] == {
        "character_string1": {"value": "XF261123-000001-7"},  # formatted, ASCII
        "phrase2": {"value": "已受理"},  # the notice kind's status words
        "time3": {"value": "2026年11月23日 09:30"},  # the notice's time, Asia/Shanghai
        "thing4": {"value": "信访事项已受理，请留意办理期限"},
    }
    assert not {"first", "remark"} & set(body["data"])
    assert body["url"] == LINK
    assert body["client_msg_id"] == "xf-outbox-7"
    # a resend after a lost answer carries the same client_msg_id: delivered once
    await ch.send(out("您的信访事项 XF261123-000001-7 已受理。", linked))
    assert len(fake.templates) == 1
    await ch.api.close()


async def test_template_without_public_url_has_no_link_and_unknown_kinds_use_default(
    db: Database, fake: FakeWeChat
) -> None:
    ch = channel(db, fake, template_id=fake.template_id)
    await ch.send(out("有新进展", {**NOTICE, "key": "push.something_new"}))
    body = fake.templates[0]
    assert "url" not in body
    assert body["data"]["phrase2"] == {"value": "有新进展"}
    await ch.api.close()


async def test_quota_45047_falls_back_to_the_template_and_is_not_retried(
    db: Database, fake: FakeWeChat
) -> None:
    ch = channel(db, fake, template_id=fake.template_id)
    fake.user_wrote(OPENID, ago_seconds=60)
    for i in range(5):
        await ch.send(out(f"第{i + 1}条"))
    assert len(fake.custom) == 5
    await ch.send(out("第六条", NOTICE))  # over the quota: the template goes instead
    assert len(fake.custom) == 5 and len(fake.templates) == 1
    plain = channel(db, fake)  # no template configured: a clear, permanent failure
    with pytest.raises(SendError) as err:
        await plain.send(out("第七条"))
    assert not err.value.retryable and not err.value.unreachable
    assert err.value.reason.startswith("45047:") and "quota" in err.value.reason
    fake.user_wrote(OPENID)  # the citizen writes again: a new quota
    await plain.send(out("第八条"))
    assert fake.custom[-1]["content"] == "第八条"
    for c in (ch, plain):
        await c.api.close()


async def test_fake_enforces_the_quota_and_the_2023_template_fields(
    db: Database, fake: FakeWeChat
) -> None:
    api = make_api(db, fake)
    fake.user_wrote(OPENID)
    for _ in range(5):
        await api.send_text(OPENID, "好")
    with pytest.raises(WeChatApiError) as err:
        await api.send_text(OPENID, "好")
    assert err.value.errcode == 45047
    good = {"character_string1": "XF261123-000001-7", "phrase2": "已受理", "thing4": "已受理"}
    bad_cases = [
        {**good, "first": "您的信访事项有新进展"},  # removed in May 2023
        {**good, "remark": "感谢"},
        {**good, "thing4": "一" * 21},  # thing: at most 20 characters
        {**good, "phrase2": "正在办理中的事项"},  # phrase: at most 5 汉字
        {**good, "character_string1": "XF261123-000001-7" * 2},  # over 32 characters
        {**good, "character_string1": "编号XF26"},  # ASCII only
        {**good, "time3": "昨天"},
        {**good, "thing4": ""},
    ]
    for data in bad_cases:
        with pytest.raises(WeChatApiError) as err:
            await api.send_template(OPENID, fake.template_id, data)
        assert err.value.errcode == 47003, data
    await api.send_template(OPENID, fake.template_id, good)
    assert len(fake.templates) == 1
    await api.close()


def test_template_config_checks_types_at_load(tmp_path: Path) -> None:
    base = (CONFIG_DIR / "wechat.yaml").read_text(encoding="utf-8")
    broken = {
        "removed by WeChat in 2023": base.replace("character_string1:", "first:"),
        "at most 5 汉字": base.replace("{status: 已受理", "{status: 已经受理了的"),
        "at most 20 characters": base.replace(
            "thing: 信访事项已受理，请留意办理期限", "thing: " + "很" * 21
        ),
        "unknown type": base.replace("type: phrase", "type: slogan"),
    }
    for problem, text in broken.items():
        assert text != base
        (tmp_path / "wechat.yaml").write_text(text, encoding="utf-8")
        with pytest.raises(WeChatConfigError, match=problem):
            load_config(tmp_path)
    assert len(load_config(CONFIG_DIR).templates.notices) > 10


async def test_outside_48_hours_without_template_is_permanent(
    db: Database, fake: FakeWeChat
) -> None:
    ch = channel(db, fake)
    with pytest.raises(SendError) as err:
        await ch.send(out("已受理"))
    assert not err.value.retryable and not err.value.unreachable
    assert "45015" in err.value.reason
    await ch.api.close()


async def test_template_values_that_break_their_type_fail_permanently(
    db: Database, fake: FakeWeChat
) -> None:
    ch = channel(db, fake, template_id=fake.template_id)
    with pytest.raises(SendError) as err:
        await ch.send(out("已受理", {**NOTICE, "tracking_no": ""}))  # nothing to show
    assert not err.value.retryable and "character_string1" in err.value.reason
    assert fake.templates == []
    await ch.api.close()


async def test_broadcasts_outside_48_hours_never_use_the_template(
    db: Database, fake: FakeWeChat
) -> None:
    ch = channel(db, fake, template_id=fake.template_id)
    fake.user_wrote(OPENID, ago_seconds=49 * 3600)
    message = OutboundMessage(
        Address("wechat", OPENID), Reply("端午节期间窗口暂停接待"), "broadcast"
    )
    with pytest.raises(SendError) as err:
        await ch.send(message)
    assert not err.value.retryable and "45015" in err.value.reason
    assert fake.templates == [] and fake.custom == []
    await ch.api.close()


@pytest.mark.parametrize(
    ("errcode", "retryable", "unreachable"),
    [
        (45009, True, False),
        (-1, True, False),
        (43004, False, True),
        (40003, False, True),
        (45002, False, False),
    ],
)
async def test_errcode_taxonomy(
    db: Database, fake: FakeWeChat, errcode: int, retryable: bool, unreachable: bool
) -> None:
    ch = channel(db, fake)
    fake.user_wrote(OPENID)
    fake.inject("errcode", "custom", errcode=errcode)
    with pytest.raises(SendError) as err:
        await ch.send(out("你好"))
    assert (err.value.retryable, err.value.unreachable) == (retryable, unreachable)
    assert fake.custom == []
    await ch.send(out("你好"))  # the fault was one-off
    assert len(fake.custom) == 1
    await ch.api.close()


async def test_unsubscribed_user_is_unreachable(db: Database, fake: FakeWeChat) -> None:
    ch = channel(db, fake)
    fake.user_wrote(OPENID)
    fake.unsubscribed.add(OPENID)
    with pytest.raises(SendError) as err:
        await ch.send(out("你好"))
    assert err.value.unreachable and not err.value.retryable
    await ch.api.close()


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
async def test_rejected_token_is_refreshed_once_and_the_call_retried(
    db: Database, fake: FakeWeChat, errcode: int
) -> None:
    ch = channel(db, fake)
    fake.user_wrote(OPENID)
    await ch.send(out("一"))
    assert fake.token_requests == 1
    fake.inject("errcode", "custom", errcode=errcode)
    await ch.send(out("二"))
    assert fake.token_requests == 2
    assert [m["content"] for m in fake.custom] == ["一", "二"]
    await ch.api.close()


async def test_revoked_token_and_expired_token(db: Database, fake: FakeWeChat) -> None:
    ch = channel(db, fake)
    fake.user_wrote(OPENID)
    await ch.send(out("一"))
    fake.revoke_tokens()  # someone else's refresh, or WeChat reset it
    await ch.send(out("二"))
    assert fake.token_requests == 2
    fake.clock_offset = 7200  # the fake's token expired (42001)
    fake.user_wrote(OPENID)
    await ch.send(out("三"))
    assert fake.token_requests == 3
    assert len(fake.custom) == 3
    await ch.api.close()


async def test_transport_faults_are_retryable(db: Database, fake: FakeWeChat) -> None:
    ch = channel(db, fake, timeout=0.5)
    fake.user_wrote(OPENID)
    fake.inject("5xx", "custom")
    with pytest.raises(SendError) as err:
        await ch.send(out("你好"))
    assert err.value.retryable
    fake.inject("slow", "custom", seconds=1.0)
    with pytest.raises(SendError) as err:
        await ch.send(out("你好"))
    assert err.value.retryable
    await ch.api.close()


async def test_bad_credentials_raise(db: Database, fake: FakeWeChat) -> None:
    api = make_api(db, fake)
    fake.app_secret = "rotated"  # the secret was reset in the admin console
    with pytest.raises(WeChatApiError) as err:
        await api.access_token()
    assert err.value.errcode == 40125
    await api.close()


async def test_menu_and_media(db: Database, fake: FakeWeChat, tmp_path: Path) -> None:
    api = make_api(db, fake)
    await api.create_menu(load_config(CONFIG_DIR).menu(lambda path: "https://x.example" + path))
    names = [b["name"] for b in fake.menus[0]["button"]]
    assert names == ["新建投诉", "我的事项", "更多"]
    fake.add_media("M1", b"bytes", "image/jpeg", "p.jpg")
    media = await api.download_media("M1", tmp_path, 1000)
    assert (tmp_path / media.key).read_bytes() == b"bytes"
    assert (media.mime, media.filename, media.size) == ("image/jpeg", "p.jpg", 5)
    with pytest.raises(WeChatApiError) as err:
        await api.download_media("nope", tmp_path, 1000)
    assert err.value.errcode == 40007
    await api.close()


async def test_token_refresh_shared_by_two_processes(db_url: str, fake: FakeWeChat) -> None:
    """Two processes (two engines on one database): exactly one token request."""
    first, second = Database(db_url), Database(db_url)
    if not first.is_postgres:
        from bot.storage.migrate import upgrade

        await upgrade(first)
    from sqlalchemy import delete

    from bot.storage.tables import kv

    async with first.transaction() as conn:
        await conn.execute(delete(kv))
    fake.inject("slow", "token", seconds=0.3)  # a slow token call widens the race
    a, b = make_api(first, fake), make_api(second, fake)
    tokens = await asyncio.gather(*(api.access_token() for api in (a, b) for _ in range(5)))
    assert fake.token_requests == 1
    assert len(set(tokens)) == 1

    # both processes see their token rejected at once: still one refresh
    stale = tokens[0]
    fake.revoke_tokens()
    fresh = await asyncio.gather(a.refresh(stale), b.refresh(stale), a.refresh(stale))
    assert fake.token_requests == 2
    assert len(set(fresh)) == 1 and fresh[0] != stale
    for api in (a, b):
        await api.close()
    await first.dispose()
    await second.dispose()


async def test_cli_installs_the_menu(fake: FakeWeChat, tmp_path: Path) -> None:
    import os
    import sys

    env = {
        **os.environ,
        "XINFANG_DATA_DIR": str(tmp_path),
        "XINFANG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}",
        "XINFANG_WECHAT_TOKEN": "t",
        "XINFANG_WECHAT_APP_ID": fake.app_id,
        "XINFANG_WECHAT_APP_SECRET": fake.app_secret,
        "XINFANG_WECHAT_API_BASE": fake.url,
        "XINFANG_PUBLIC_URL": "https://xf.example.gov.cn",
        "XINFANG_SECRET_KEY": "k" * 40,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "wechat", "menu", env=env, stdout=asyncio.subprocess.PIPE
    )
    out_bytes, _ = await proc.communicate()
    assert proc.returncode == 0
    assert "新建投诉 / 我的事项 / 更多" in out_bytes.decode()
    assert fake.menus and fake.token_requests == 1
    # the case page button opens WeChat's 网页授权 (snsapi_base) back to the public /my
    view = fake.menus[0]["button"][1]
    assert view["type"] == "view" and "scope=snsapi_base" in view["url"]
    assert "redirect_uri=https%3A%2F%2Fxf.example.gov.cn%2Fmy&" in view["url"]


async def test_check_config_refuses_templates_that_break_the_2023_rules(tmp_path: Path) -> None:
    import os
    import shutil
    import sys

    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    yaml_path = config / "wechat.yaml"
    yaml_path.write_text(
        yaml_path.read_text(encoding="utf-8").replace("{status: 已受理", "{status: 已经受理完毕"),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "XINFANG_CONFIG_DIR": str(config),
        "XINFANG_DATA_DIR": str(tmp_path),
        "XINFANG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "check-config", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert "push.accepted" in err.decode() and "phrase2" in err.decode()


def test_public_url_and_plaintext_settings() -> None:
    from bot.settings import SettingsError, load_settings

    secret = "s" * 32  # links are signed: a public URL needs the secret
    settings = load_settings(public_url="https://xinfang.example.gov.cn/", secret_key=secret)
    assert settings.public_url == "https://xinfang.example.gov.cn"
    assert settings.wechat_allow_plaintext is False  # refused by default once AES is set
    with pytest.raises(SettingsError, match="XINFANG_PUBLIC_URL"):
        load_settings(public_url="xinfang.example.gov.cn")
