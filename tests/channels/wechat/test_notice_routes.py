"""A WeChat notice takes the best route the platform allows, in a fixed order (table test):
customer-service message inside the window → subscription notification with consent
(long-term, or an unused one-time consent, spent by the send) → template message →
WeChatNoRoute, a permanent failure naming every step (where SMS takes over).
Everything against the fake WeChat API, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import yaml

from bot.channels.base import SendError
from bot.channels.wechat import WeChatChannel
from bot.channels.wechat_config import WeChatConfigError, parse_config
from bot.channels.wechat_events import parse_report
from bot.channels.wechat_events import record as record_report
from bot.channels.wechat_notices import WeChatNoRoute
from bot.messages import Address, OutboundMessage, Reply
from bot.storage import wechat_consents as consents
from bot.storage.db import Database
from tests.channels.wechat.conftest import make_api
from tests.conftest import CONFIG_DIR
from tests.fakes_wechat import FakeWeChat

OPENID = "o-citizen-sub"
LONG_TPL = "SUB-LONG-progress"
ONCE_TPL = "SUB-ONCE-answer"
LINK = "https://xinfang.example.gov.cn/my/cases/XF2611230000017?k=signed"
NOTICE = {
    "key": "push.answered",
    "tracking_no": "XF2611230000017",
    "at": "2026-11-23T01:30:00+00:00",
    "url": LINK,
}
SUB_FIELDS = {
    "character_string1": {"type": "character_string", "value": "{tracking_no}"},
    "phrase2": {"type": "phrase", "value": "{status}"},
    "thing3": {"type": "thing", "value": "{thing}"},
    "time4": {"type": "time", "value": "{time}"},
}


def wechat_config(templates: list[dict[str, Any]]) -> Any:
    data = yaml.safe_load((CONFIG_DIR / "wechat.yaml").read_text(encoding="utf-8"))
    data["subscribe"] = {"templates": templates}
    return parse_config(data, "test")


def notice(kind: str = "push") -> OutboundMessage:
    return OutboundMessage(
        address=Address("wechat", OPENID),
        reply=Reply("您的信访事项 XF261123-000001-7 已出具处理意见。"),
        kind=kind,
        outbox_id=9,
        idempotency_key="xf-outbox-9",
        template=NOTICE if kind == "push" else {},
    )


@dataclass
class Route:
    """One row: the situation, and which route the notice must take."""

    name: str
    in_window: bool = False
    quota_used: bool = False
    configured: tuple[str, ...] = (LONG_TPL, ONCE_TPL)  # subscription templates set up
    ours: dict[str, Any] = field(default_factory=dict)  # consent the bot recorded
    wechat: dict[str, Any] = field(default_factory=dict)  # consent WeChat knows
    template: bool = True  # XINFANG_WECHAT_TEMPLATE_ID set
    fake_knows: tuple[str, ...] = (LONG_TPL, ONCE_TPL)  # templates the account really has
    kind: str = "push"
    expect: str = ""  # custom | subscribe:<id> | template | no_route
    reason_has: tuple[str, ...] = ()
    left: dict[str, int] = field(default_factory=dict)  # one-time consents left after


ROUTES = [
    Route("inside the window: customer service", in_window=True, ours={LONG_TPL: "long"},
          wechat={LONG_TPL: "long"}, expect="custom"),
    Route("long-term consent", ours={LONG_TPL: "long"}, wechat={LONG_TPL: "long"},
          expect=f"subscribe:{LONG_TPL}"),
    Route("quota used up, long-term consent", in_window=True, quota_used=True,
          ours={LONG_TPL: "long"}, wechat={LONG_TPL: "long"}, expect=f"subscribe:{LONG_TPL}"),
    Route("one-time consent, spent", ours={ONCE_TPL: 1}, wechat={ONCE_TPL: 1},
          expect=f"subscribe:{ONCE_TPL}", left={ONCE_TPL: 0}),
    Route("one of two one-time consents spent", ours={ONCE_TPL: 2}, wechat={ONCE_TPL: 2},
          expect=f"subscribe:{ONCE_TPL}", left={ONCE_TPL: 1}),
    Route("no consent: template", expect="template"),
    Route("one-time consent used up: template", ours={ONCE_TPL: 0}, expect="template"),
    Route("WeChat says refused (43101): consent dropped, template", ours={LONG_TPL: "long"},
          expect="template", left={LONG_TPL: 0}),
    Route("template id unknown to WeChat (40037): consent kept, template",
          ours={ONCE_TPL: 1}, wechat={ONCE_TPL: 1}, fake_knows=(LONG_TPL,),
          expect="template", left={ONCE_TPL: 1}),
    Route("no subscription configured: template", configured=(), expect="template"),
    Route("no consent, no template: no route", template=False, expect="no_route",
          reason_has=("45015", f"no consent for subscription {LONG_TPL}",
                      "no template configured")),
    Route("refused and no template: no route", template=False, ours={ONCE_TPL: 1},
          expect="no_route", reason_has=("43101", "no template configured")),
    Route("quota used up, nothing else: no route", in_window=True, quota_used=True,
          configured=(), template=False, expect="no_route", reason_has=("45047",)),
    Route("a broadcast never uses notifications", kind="broadcast", ours={LONG_TPL: "long"},
          wechat={LONG_TPL: "long"}, expect="no_route", reason_has=("broadcasts never",)),
]  # fmt: skip


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
async def test_notice_route(db: Database, fake: FakeWeChat, route: Route) -> None:
    templates = [
        {"id": t, "consent": "long" if t == LONG_TPL else "once", "fields": SUB_FIELDS}
        for t in route.configured
    ]
    fake.subscribe_templates = {t: t == LONG_TPL for t in route.fake_knows}
    for template_id, given in route.wechat.items():
        for _ in range(1 if given == "long" else given):
            fake.grant(OPENID, template_id, long_term=given == "long")
    async with db.transaction() as conn:
        for template_id, given in route.ours.items():
            if given == "long":
                await consents.grant(conn, OPENID, template_id, long_term=True, now=_now())
            else:
                await consents.revoke(conn, OPENID, template_id, _now())  # a row, none left
                for _ in range(given):
                    await consents.grant(conn, OPENID, template_id, long_term=False, now=_now())
    if route.in_window:
        fake.user_wrote(OPENID, ago_seconds=3600)
        if route.quota_used:
            fake.custom_since[OPENID] = 5
    ch = WeChatChannel(
        make_api(db, fake),
        wechat_config(templates),
        template_id=fake.template_id if route.template else "",
    )
    try:
        if route.expect == "no_route":
            with pytest.raises(WeChatNoRoute) as err:
                await ch.send(notice(route.kind))
            assert not err.value.retryable
            for words in route.reason_has:
                assert words in err.value.reason
            assert fake.subscriptions == [] and fake.templates == []
        else:
            result = await ch.send(notice(route.kind))
            sent = {
                "custom": len(fake.custom),
                "subscribe": len(fake.subscriptions),
                "template": len(fake.templates),
            }
            want = route.expect.split(":")[0]
            assert sent == {k: int(k == want) for k in sent}
            if want == "subscribe":
                body = fake.subscriptions[0]
                assert body["template_id"] == route.expect.split(":")[1]
                assert body["page"] == LINK  # the notification opens the case page
                assert body["data"]["phrase2"]["value"] == "已答复"
                assert body["data"]["character_string1"]["value"] == "XF261123-000001-7"
                assert result.external_id.isdigit()  # the msgid its sent event names
            if want == "template":
                assert result.external_id == "1"
        async with db.read() as conn:
            found = await consents.of_openid(conn, OPENID, [LONG_TPL, ONCE_TPL])
        for template_id, left in route.left.items():
            consent = found[template_id]
            assert consent.remaining == left
            assert consent.usable is (left > 0)
    finally:
        await ch.api.close()


async def consented_channel(
    db: Database, fake: FakeWeChat, consent: str, api_seconds: float = 5.0
) -> WeChatChannel:
    """A channel with one subscription template (``consent``: long or once) the citizen
    consented to, on WeChat's side and ours; its API client gives up after ``api_seconds``."""
    template = LONG_TPL if consent == "long" else ONCE_TPL
    fake.subscribe_templates = {template: consent == "long"}
    fake.grant(OPENID, template, long_term=consent == "long")
    async with db.transaction() as conn:
        await consents.grant(conn, OPENID, template, long_term=consent == "long", now=_now())
    return WeChatChannel(
        make_api(db, fake, timeout=api_seconds),
        wechat_config([{"id": template, "consent": consent, "fields": SUB_FIELDS}]),
        template_id=fake.template_id,
    )


async def test_a_one_time_consent_serves_one_notice_then_the_template(
    db: Database, fake: FakeWeChat
) -> None:
    ch = await consented_channel(db, fake, "once")
    await ch.send(notice())
    await ch.send(notice())
    assert (len(fake.subscriptions), len(fake.templates)) == (1, 1)
    await ch.api.close()


async def test_a_busy_platform_gives_the_consent_back_and_retries(
    db: Database, fake: FakeWeChat
) -> None:
    ch = await consented_channel(db, fake, "once")
    fake.inject("errcode", "bizsend", errcode=-1)  # system busy
    with pytest.raises(SendError) as err:
        await ch.send(notice())
    assert err.value.retryable and not isinstance(err.value, WeChatNoRoute)
    await ch.send(notice())  # the outbox's retry: the consent is still there
    assert len(fake.subscriptions) == 1 and fake.templates == []
    await ch.api.close()


async def test_a_field_the_notification_refuses_47003_falls_to_the_template(
    db: Database, fake: FakeWeChat
) -> None:
    """A subscription field the account's template does not have (47003, like a value
    its type refuses): an office configuration error; the template still goes out."""
    fake.subscribe_templates = {LONG_TPL: True}
    fake.grant(OPENID, LONG_TPL, long_term=True)
    async with db.transaction() as conn:
        await consents.grant(conn, OPENID, LONG_TPL, long_term=True, now=_now())
    fields = {**SUB_FIELDS, "slogan5": {"type": "thing", "value": "{thing}"}}
    ch = WeChatChannel(
        make_api(db, fake),
        wechat_config([{"id": LONG_TPL, "consent": "long", "fields": fields}]),
        template_id=fake.template_id,
    )
    await ch.send(notice())
    assert fake.subscriptions == [] and len(fake.templates) == 1
    await ch.api.close()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"consent": "long", "fields": SUB_FIELDS}, "needs an id"),
        ({"id": "X", "consent": "always", "fields": SUB_FIELDS}, "long or once"),
        ({"id": "X", "consent": "once"}, "has no fields"),
        ({"id": "X", "consent": "once", "fields": {"first": SUB_FIELDS["thing3"]}}, "removed"),
        (
            {
                "id": "X",
                "consent": "once",
                "fields": {"phrase2": {"type": "phrase", "value": "{thing}"}},
            },
            "at most 5 汉字",
        ),
    ],
)
def test_subscription_templates_are_checked_like_templates(
    entry: dict[str, Any], problem: str
) -> None:
    with pytest.raises(WeChatConfigError, match=problem):
        wechat_config([entry])


def _now() -> Any:
    from bot.clock import utc_now

    return utc_now()


async def test_a_notification_whose_answer_was_lost_is_not_sent_twice(
    db: Database, fake: FakeWeChat
) -> None:
    """bizsend has no client_msg_id: after a timeout the notice waits for WeChat's
    subscribe_msg_sent_event, and the report settles it without a second notification."""
    ch = await consented_channel(db, fake, "long", api_seconds=0.3)  # the delayed answer is lost
    fake.inject("slow", "bizsend", seconds=0.8)  # carried out, answered too late
    with pytest.raises(SendError) as err:
        await ch.send(notice())
    assert err.value.retryable and err.value.retry_after == 120.0
    for _ in range(50):
        if fake.subscriptions:
            break
        await asyncio.sleep(0.05)
    assert len(fake.subscriptions) == 1  # it did go out
    with pytest.raises(SendError, match="waiting for WeChat's report"):
        await ch.send(notice())  # the outbox's retry before the report: nothing sent
    msgid = str(10**18 + 1)  # the fake's msgid of that notification
    report = parse_report(
        "subscribe_msg_sent_event",
        {
            "FromUserName": OPENID,
            "CreateTime": int(time.time()),
            "SubscribeMsgSentEvent": {
                "List": {"TemplateId": LONG_TPL, "MsgID": msgid, "ErrorCode": "0"}
            },
        },
    )
    assert report is not None
    await record_report(db, ch.config, report, channel="wechat")
    result = await ch.send(notice())  # the retry after the report: delivered, not resent
    assert result.external_id == msgid
    assert len(fake.subscriptions) == 1 and fake.custom == [] and fake.templates == []
    await ch.send(notice())  # settled: a later send of the same row is a new send
    assert len(fake.subscriptions) == 2
    await ch.api.close()


async def test_a_notification_never_reported_goes_out_once_after_the_wait(
    db: Database, fake: FakeWeChat
) -> None:
    """A 502 from WeChat's gateway may hide a send; no report came within the wait, so it
    did not go out: the one-time consent the call took is given back and spent once."""
    ch = await consented_channel(db, fake, "once", api_seconds=0.3)
    ch.fallback.report_wait = timedelta(0)
    fake.inject("5xx", "bizsend")
    with pytest.raises(SendError) as err:
        await ch.send(notice())
    assert err.value.retryable and fake.subscriptions == []
    await ch.send(notice())
    assert len(fake.subscriptions) == 1 and fake.templates == []
    async with db.read() as conn:
        left = (await consents.of_openid(conn, OPENID, [ONCE_TPL]))[ONCE_TPL]
    assert left.remaining == 0  # given back once, spent once
    await ch.api.close()
