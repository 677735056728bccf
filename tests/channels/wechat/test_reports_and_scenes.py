"""What WeChat reports through the webhook: consent to subscription notifications (the
List items of the popup, change and sent events), template delivery (TEMPLATESENDJOBFINISH,
a delivery state staff see), and the scene of a parametric QR code (kept on the contact,
greeted as config/wechat.yaml says). SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.channels.wechat import CAPABILITIES
from bot.deliveries import Deliveries
from bot.messages import Address, Reply
from bot.storage import cases, contacts, outbox, wechat_scenes
from bot.storage import wechat_consents as consents
from bot.storage.tables import outbox as outbox_table
from tests.cases.lifecycle_support import make_case
from tests.channels.wechat.conftest import Rig, RigFactory
from tests.channels.wechat.payloads import ACCOUNT, OPENID, event, message
from tests.channels.wechat.test_notice_routes import SUB_FIELDS, wechat_config

LONG_TPL = "SUB-LONG-progress"
ONCE_TPL = "SUB-ONCE-answer"
OTHER_TPL = "SUB-not-ours"


def report(
    name: str, block: str, items: list[dict[str, Any]], openid: str = OPENID, created: int = 0
) -> str:
    """A consent or sent event with its List items, as WeChat posts it."""
    lists = "".join(
        "<List>"
        + "".join(
            f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>"
            for k, v in item.items()
        )
        + "</List>"
        for item in items
    )
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{created or int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{name}]]></Event><{block}>{lists}</{block}></xml>"
    )


def popup(*choices: tuple[str, str], created: int = 0) -> str:
    items = [{"TemplateId": t, "SubscribeStatusString": s, "PopupScene": 1} for t, s in choices]
    return report("subscribe_msg_popup_event", "SubscribeMsgPopupEvent", items, created=created)


async def consent_rig(rig_factory: RigFactory) -> Rig:
    rig = await rig_factory()
    rig.hook.config = wechat_config(
        [
            {"id": LONG_TPL, "consent": "long", "fields": SUB_FIELDS},
            {"id": ONCE_TPL, "consent": "once", "fields": SUB_FIELDS},
        ]
    )
    return rig


async def consent_of(rig: Rig) -> dict[str, tuple[bool, int]]:
    async with rig.db.read() as conn:
        found = await consents.of_openid(conn, OPENID, [LONG_TPL, ONCE_TPL, OTHER_TPL])
    return {t: (c.long_term, c.remaining) for t, c in found.items()}


async def test_popup_items_are_stored_per_template_and_kind(rig_factory: RigFactory) -> None:
    rig = await consent_rig(rig_factory)
    status, body = await rig.post(
        popup((LONG_TPL, "accept"), (ONCE_TPL, "accept"), (OTHER_TPL, "accept"))
    )
    assert (status, body) == (200, "success")  # a report, never answered
    assert await consent_of(rig) == {LONG_TPL: (True, 0), ONCE_TPL: (False, 1)}
    # a second tap on the one-time template, later: one more notification allowed
    await rig.post(popup((ONCE_TPL, "accept"), created=int(time.time()) + 60))
    assert (await consent_of(rig))[ONCE_TPL] == (False, 2)
    assert await rig.inbound_count() == 0  # nothing of it became a message of the citizen


async def test_wechat_s_retry_of_a_consent_event_counts_once(rig_factory: RigFactory) -> None:
    rig = await consent_rig(rig_factory)
    created = int(time.time()) - 3
    xml = popup((ONCE_TPL, "accept"), created=created)
    assert await rig.post(xml) == (200, "success")
    assert await rig.post(xml) == (200, "success")  # the retry (a new signature, same event)
    assert (await consent_of(rig))[ONCE_TPL] == (False, 1)


async def test_reject_and_change_events_take_consent_away(rig_factory: RigFactory) -> None:
    rig = await consent_rig(rig_factory)
    await rig.post(popup((LONG_TPL, "accept"), (ONCE_TPL, "accept")))
    await rig.post(popup((ONCE_TPL, "reject")))
    assert (await consent_of(rig))[ONCE_TPL] == (False, 0)
    change = report(
        "subscribe_msg_change_event",
        "SubscribeMsgChangeEvent",
        [{"TemplateId": LONG_TPL, "SubscribeStatusString": "reject"}],
    )
    assert await rig.post(change) == (200, "success")
    assert (await consent_of(rig))[LONG_TPL] == (False, 0)


async def test_a_one_time_consent_from_the_popup_is_spent_by_the_send(
    rig_factory: RigFactory,
) -> None:
    """Consent event in → one notification out → the next notice takes the template."""
    from tests.channels.wechat.test_notice_routes import notice

    rig = await consent_rig(rig_factory)
    rig.fake.subscribe_templates = {LONG_TPL: True, ONCE_TPL: False}
    rig.fake.grant("o-citizen-sub", ONCE_TPL)
    await rig.post(report(
        "subscribe_msg_popup_event",
        "SubscribeMsgPopupEvent",
        [{"TemplateId": ONCE_TPL, "SubscribeStatusString": "accept", "PopupScene": 1}],
        openid="o-citizen-sub",
    ))  # fmt: skip
    rig.channel.fallback.config = rig.hook.config
    first = await rig.channel.send(notice())
    second = await rig.channel.send(notice())
    assert first.external_id.isdigit() and len(rig.fake.subscriptions) == 1
    assert second.external_id == "1" and len(rig.fake.templates) == 1  # the template
    async with rig.db.read() as conn:
        left = await consents.of_openid(conn, "o-citizen-sub", [ONCE_TPL])
    assert left[ONCE_TPL].remaining == 0


async def test_a_sent_event_refused_by_the_citizen_drops_the_consent(
    rig_factory: RigFactory,
) -> None:
    rig = await consent_rig(rig_factory)
    await rig.post(popup((LONG_TPL, "accept")))
    sent = report(
        "subscribe_msg_sent_event",
        "SubscribeMsgSentEvent",
        [
            {
                "TemplateId": LONG_TPL,
                "MsgID": 2794188253209100289,
                "ErrorCode": 20004,
                "ErrorStatus": "failed:user refuse",
            }
        ],
    )
    assert await rig.post(sent) == (200, "success")
    assert (await consent_of(rig))[LONG_TPL] == (False, 0)


async def _sent_row(rig: Rig, msgid: str) -> int:
    async with rig.db.transaction() as conn:
        contact = await contacts.get_or_create(conn, Address("wechat", OPENID), _now())
        row_id = await outbox.enqueue(
            conn,
            contact_id=contact.id,
            address=Address("wechat", OPENID),
            reply=Reply("您的信访事项已受理。"),
            now=_now(),
            template={"key": "push.accepted"},
        )
        await conn.execute(
            update(outbox_table)
            .where(outbox_table.c.id == row_id)
            .values(status="sent", external_id=msgid, sent_at=_now(), attempts=1)
        )
    return row_id


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("success", "delivered"),
        ("failed:user block", "blocked"),
        ("failed: system failed", "undelivered"),
    ],
)
async def test_templatesendjobfinish_is_the_notice_s_delivery_state(
    rig_factory: RigFactory, status: str, state: str
) -> None:
    rig = await rig_factory()
    row_id = await _sent_row(rig, "200163836")
    other = await _sent_row(rig, "200163837")
    finished = event("TEMPLATESENDJOBFINISH", MsgID=200163836, Status=status)
    assert await rig.post(finished) == (200, "success")
    deliveries = Deliveries(rig.db)
    async with rig.db.read() as conn:
        rows = await outbox.get_deliveries(conn, [row_id, other])
    assert deliveries.state(rows[row_id]) == state
    assert deliveries.state(rows[other]) == "sent"  # another message: no report yet
    assert await rig.inbound_count() == 0


async def test_a_report_on_an_unknown_message_changes_nothing(rig_factory: RigFactory) -> None:
    rig = await rig_factory()
    row_id = await _sent_row(rig, "555")
    assert await rig.post(event("TEMPLATESENDJOBFINISH", MsgID=999, Status="success")) == (
        200,
        "success",
    )
    async with rig.db.read() as conn:
        receipt = (
            await conn.execute(select(outbox_table.c.receipt).where(outbox_table.c.id == row_id))
        ).scalar()
    assert receipt is None


async def test_subscribing_through_a_hall_poster_greets_with_the_hall(
    rig_factory: RigFactory,
) -> None:
    rig = await rig_factory()
    status, body = await rig.post(
        event("subscribe", EventKey="qrscene_hall-xihu", Ticket="gQH47joAAAAAAAAAASxodHRw")
    )
    assert status == 200
    assert "西湖区信访接待大厅" in body  # the scene's greeting …
    assert "信访" in body.split("西湖区信访接待大厅", 1)[1]  # … then the bot's own welcome
    assert await scene_of(rig) == "hall-xihu"


async def test_a_follower_scanning_a_poster_is_greeted_and_nothing_starts(
    rig_factory: RigFactory,
) -> None:
    rig = await rig_factory()
    status, body = await rig.post(event("SCAN", EventKey="hall-city", Ticket="gQH47"))
    assert status == 200 and "市信访局接待大厅" in body
    assert "新建信访事项" in body and "第1题" not in body  # the menu: no petition started
    assert await scene_of(rig) == "hall-city"
    # a scene nobody configured is still recorded (which poster), without a greeting
    status, body = await rig.post(event("SCAN", EventKey="hall-unknown"))
    assert status == 200 and "接待大厅" not in body and "第1题" not in body
    assert await scene_of(rig) == "hall-unknown"


async def test_a_hall_poster_pre_selects_its_district_for_the_petition(
    rig_factory: RigFactory,
) -> None:
    """config/wechat.yaml: hall-xihu pre-selects 事发地 西湖区; the citizen is told, the
    district question is not asked, and a scan of a poster without one pre-selects nothing."""
    rig = await rig_factory()
    now = int(time.time())
    await rig.post(event("subscribe", EventKey="qrscene_hall-xihu", create_time=now - 9))
    _, body = await rig.post(event("CLICK", EventKey="XF_NEW", create_time=now - 8))
    assert "根据您扫描的二维码，已预先选择事发地：西湖区" in body
    assert "哪个区县" not in body
    _, body = await rig.post(message("text", Content="取消"))
    assert "已取消" in body  # nothing of the citizen's own to lose: no confirmation asked
    # the city hall's poster names no district: the earlier scan's choice is gone
    await rig.post(event("SCAN", EventKey="hall-city", create_time=now - 6))
    _, body = await rig.post(event("CLICK", EventKey="XF_NEW", create_time=now - 5))
    assert "第1题" in body and "预先选择" not in body


async def test_a_plain_subscribe_keeps_no_scene(rig_factory: RigFactory) -> None:
    rig = await rig_factory()
    status, body = await rig.post(event("subscribe"))
    assert status == 200 and "接待大厅" not in body
    assert await scene_of(rig) is None


async def scene_of(rig: Rig) -> str | None:
    async with rig.db.read() as conn:
        contact = await contacts.find(conn, Address("wechat", OPENID))
        return await wechat_scenes.of_contact(conn, contact.id) if contact else None


def _now() -> Any:
    from bot.clock import utc_now

    return utc_now()


async def test_a_status_answer_points_to_the_consent_page_where_there_is_one(
    rig_factory: RigFactory,
) -> None:
    """With subscription templates the office's consent page is named under the citizen's
    own status answer (and the receipt, tests/dialogs/transcripts); without, nothing."""
    consent_url = "https://xinfang.example.gov.cn/my/subscribe"
    case_id = await make_case(
        (await rig_factory()).db, _now(), user=OPENID, channel="wechat", status="accepted"
    )
    async with (await rig_factory()).db.read() as conn:
        row = await cases.by_id(conn, case_id)
    assert row is not None
    rig = await rig_factory(capabilities=replace(CAPABILITIES, consent_url=consent_url))
    _, body = await rig.post(message("text", Content=row.tracking_no))
    assert "已受理" in body
    assert f"开启办理进度提醒，超过48小时也能在微信里收到每一步通知：{consent_url}" in body
    rig = await rig_factory()  # no templates, no page: no pointer
    _, body = await rig.post(message("text", Content=row.tracking_no))
    assert "已受理" in body and "开启办理进度提醒" not in body
