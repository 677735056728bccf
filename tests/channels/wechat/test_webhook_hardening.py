"""The /wechat webhook against replays, forged plaintext, hostile XML, oversized media and
citizen text that breaks naive XML (SQLite and PostgreSQL, the ``db`` fixture)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import xmltodict
from sqlalchemy import select

from bot.channels.wechat import TEXT_LIMIT_BYTES, one_message
from bot.channels.wechat_replay import NonceGuard
from bot.channels.wechat_xml import BadMessage, check_xml, text_reply
from bot.clock import utc_now
from bot.intake import Intake, IntakeResult
from bot.messages import Choice, InboundMessage, Reply
from bot.storage.tables import inbound_messages, kv
from tests.channels.wechat.conftest import RigFactory
from tests.channels.wechat.payloads import (
    ACCOUNT,
    OPENID,
    WeChatSide,
    bounded_event,
    event,
    hostile,
    message,
)

NASTY = "我写了 ]]> 和 <xml> 还有 &amp; 与 ]]]]> 结尾]]"


class EchoIntake(Intake):
    """An intake that answers with the citizen's own text (as a summary would quote it)."""

    async def handle(self, msg: InboundMessage, **kwargs: Any) -> IntakeResult:
        result = await super().handle(msg, **kwargs)
        if result.duplicate:
            return result
        return IntakeResult(
            [Reply(f"您说：{msg.text}")],
            direct=True,
            contact_id=result.contact_id,
            inbound_id=result.inbound_id,
        )


async def post_raw(rig: Any, path: str, body: str) -> tuple[int, str]:
    resp = await rig.client.post(path, data=body.encode(), headers={"Content-Type": "text/xml"})
    return resp.status, await resp.text()


async def test_a_signed_query_is_used_once_with_another_body_refused(
    rig_factory: RigFactory,
) -> None:
    rig = await rig_factory()
    xml = message("text", msg_id=9001, Content="你好")
    path, body = rig.side.post(xml)
    assert (await post_raw(rig, path, body))[0] == 200
    # the captured URL with another message, another citizen: refused
    forged = message("text", openid="oATTACKER0000000000000000000", msg_id=9002, Content="撤回")
    status, reason = await post_raw(rig, path, forged)
    assert (status, reason) == (403, "replayed_nonce")
    # WeChat's own retry (same query, same message) still gets its answer, once
    assert (await post_raw(rig, path, body))[0] == 200
    assert await rig.inbound_count() == 1
    # another process (another webhook on the same database) refuses it too
    other = await rig_factory()
    assert (await post_raw(other, path, forged))[0] == 403
    assert await rig.inbound_count() == 1


async def test_used_nonces_expire_from_the_kv_table(rig_factory: RigFactory) -> None:
    rig = await rig_factory(max_skew_seconds=1.0)
    await rig.post(message("text", Content="一"))
    async with rig.db.read() as conn:
        keys = (await conn.execute(select(kv.c.key))).scalars().all()
    assert any(k.startswith("wechat.nonce:") for k in keys)
    rig.hook.nonces._purged_at = None  # the next request purges what has expired
    rig.hook.nonces.clock = lambda: utc_now() + timedelta(minutes=5)
    await rig.post(message("text", Content="二"))
    async with rig.db.read() as conn:
        keys = (await conn.execute(select(kv.c.key))).scalars().all()
    assert [k for k in keys if k.startswith("wechat.nonce:")] == []


async def test_plaintext_refused_once_an_aes_key_is_set(rig_factory: RigFactory) -> None:
    rig = await rig_factory(allow_plaintext=False)
    status, reason = await rig.post(message("text", Content="伪造"), aes=False)
    assert (status, reason) == (403, "plaintext_refused")
    assert await rig.inbound_count() == 0
    status, body = await rig.post(message("text", Content="你好"), aes=True)
    assert status == 200 and "<Encrypt>" in body
    assert await rig.inbound_count() == 1
    # without an AES key there is nothing to require: plaintext is the only mode
    plain = await rig_factory(aes_key="", allow_plaintext=False)
    assert (await plain.post(message("text", Content="你好"), aes=False))[0] == 200


@pytest.mark.parametrize("case", [c[0] for c in hostile()])
@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "aes"])
async def test_hostile_xml_is_refused_with_4xx(
    rig_factory: RigFactory, case: str, aes: bool
) -> None:
    body, expected = next((b, s) for name, b, s in hostile() if name == case)
    rig = await rig_factory(aes=aes)
    status, _ = await rig.post(body)
    assert status == expected
    assert await rig.inbound_count() == 0


async def test_deep_envelope_refused_before_msg_signature(rig_factory: RigFactory) -> None:
    rig = await rig_factory(aes=True)
    query = rig.side.query(body_encrypt="whatever")
    deep = "<xml>" + "<Encrypt>" * 2000 + "</Encrypt>" * 2000 + "</xml>"
    status, reason = await post_raw(rig, "/wechat?" + urlencode(query), deep)
    assert status == 400 and "deep" in reason


def test_reader_bounds_and_the_deepest_real_event() -> None:
    data = check_xml(bounded_event())
    assert data["SendPicsInfo"]["PicList"]["item"]["PicMd5Sum"]
    for _, body, status in hostile():
        if status == 400:  # the rest never gets past the body limit
            with pytest.raises(BadMessage):
                check_xml(body)
    with pytest.raises(BadMessage, match="too large"):
        check_xml("<xml>" + "<a>x</a>" * 10_000 + "</xml>")


@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "aes"])
async def test_citizen_text_with_cdata_end_round_trips_in_a_passive_reply(
    rig_factory: RigFactory, aes: bool
) -> None:
    rig = await rig_factory(aes=aes, wrap=lambda i: EchoIntake(i.db, i.engine))
    status, body = await rig.post(message("text", Content=NASTY))
    assert status == 200
    assert rig.side.reply_text(body) == "您说：" + NASTY
    assert WeChatSide(aes=False).reply_text(text_reply(ACCOUNT, OPENID, NASTY)) == NASTY


def test_text_reply_is_well_formed_for_any_text() -> None:
    for text in ["]]>", "]]]]>", "a]]>b]]>c", "<![CDATA[x]]>", "\x00\x0b\ufffe"]:
        data = xmltodict.parse(text_reply(ACCOUNT, OPENID, text))["xml"]
        assert (data.get("Content") or "") == text.replace("\x00", "").replace("\x0b", "").replace(
            "\ufffe", ""
        )


@pytest.mark.parametrize("via", ["media_get", "file_total_len"])
async def test_oversized_media_kept_as_reference_and_the_citizen_told(
    rig_factory: RigFactory, via: str
) -> None:
    rig = await rig_factory(max_upload_bytes=1024)
    rig.fake.add_media("MEDIA_BIG", b"x" * 5000, "video/mp4", "big.mp4")
    await rig.post(event("subscribe", EventKey=""))
    await rig.post(message("text", msg_id=9901, Content="新建"))  # a petition keeps files
    if via == "media_get":
        xml = message("video", msg_id=7001, MediaId="MEDIA_BIG", ThumbMediaId="T")
    else:
        xml = message("file", msg_id=7002, Title="big.mp4", MediaId="MEDIA_BIG", FileTotalLen=5000)
    answers = [await rig.post(xml) for _ in range(3)]  # WeChat's retries: never a 500
    assert [status for status, _ in answers] == [200, 200, 200]
    told = rig.side.reply_text(answers[0][1])
    assert told.startswith("您发送的") and "超过 1 KB" in told and "未能保存" in told
    rows = await rig.attachment_rows()
    assert [r.media_ref for r in rows] == ["wechat-media:MEDIA_BIG"]
    assert list((rig.hook.attachments_dir).rglob("*.mp4")) == []
    assert await rig.inbound_count() == 3  # subscribe, 新建, the file (once)


def test_a_turn_is_one_customer_service_message_split_only_at_the_limit() -> None:
    join = one_message([Reply("note")])
    replies = [Reply("请选择：", (Choice("a", "建议"), Choice("b", "求决"))), Reply("第二条")]
    joined = join(replies)
    assert [r.text for r in joined] == ["note\n\n请选择：\n1． 建议\n2． 求决\n\n第二条"]
    long = join([Reply("长" * 1000), Reply("短")])
    assert len(long) == 2 and all(len(r.text.encode()) <= TEXT_LIMIT_BYTES for r in long)


async def test_template_job_finished_event_is_accepted(rig_factory: RigFactory) -> None:
    rig = await rig_factory()
    report = event("TEMPLATESENDJOBFINISH", MsgID=200163836, Status="success")
    assert await rig.post(report) == (200, "success")
    failed = event("TEMPLATESENDJOBFINISH", MsgID=200163840, Status="failed:user block")
    assert await rig.post(failed) == (200, "success")
    async with rig.db.read() as conn:
        assert (await conn.execute(select(inbound_messages.c.id))).all() == []


async def test_nonce_guard_batches_and_decides_each_use(db: Any) -> None:
    guard = NonceGuard(db, 300.0)
    now = str(int(time.time()))
    results = await asyncio.gather(
        guard.first_use(now, "n1", b"body-a"),
        guard.first_use(now, "n1", b"body-b"),  # the same query, another body: a replay
        guard.first_use(now, "n1", b"body-a"),  # the same query and body: WeChat's retry
        guard.first_use(now, "n2", b"body-b"),
        NonceGuard(db, 300.0).first_use(now, "n3", b"x"),  # another process
    )
    assert results == [True, False, True, True, True]
    other = NonceGuard(db, 300.0)  # another process sees what this one recorded
    assert await other.first_use(now, "n1", b"body-b") is False
    assert await other.first_use(now, "n3", b"y") is False
    assert await other.first_use(now, "n3", b"x") is True


async def test_oversized_media_found_after_the_answer_is_told_by_message(
    rig_factory: RigFactory,
) -> None:
    rig = await rig_factory(max_upload_bytes=1024)
    rig.fake.inject("5xx", "media")  # the download inside the request fails: deferred
    rig.fake.add_media("MEDIA_BIG2", b"x" * 5000, "image/jpeg", "big.jpg")
    await rig.post(event("subscribe", EventKey=""))
    await rig.post(message("text", msg_id=9902, Content="新建"))  # a petition keeps files
    status, _ = await rig.post(
        message("image", msg_id=7003, PicUrl="http://x", MediaId="MEDIA_BIG2")
    )
    assert status == 200
    await rig.hook.shutdown()
    assert [r.media_ref for r in await rig.attachment_rows()] == ["wechat-media:MEDIA_BIG2"]
    told = [t for t in await rig.outbox_texts() if "未能保存" in t]
    assert len(told) == 1 and told[0].startswith("您发送的图片超过 1 KB")
