"""The /wechat webhook: recorded payloads in plaintext and AES mode, security, retries, deadline.

Every test runs on SQLite and PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from bot.channels.wechat import CAPABILITIES, TEXT_LIMIT_BYTES, pack, parse_inbound
from bot.intake import Intake, IntakeResult
from bot.messages import InboundMessage, Reply
from bot.storage.tables import contacts, inbound_messages
from tests.channels.wechat.conftest import RigFactory
from tests.channels.wechat.payloads import (
    ACCOUNT,
    OPENID,
    SAMPLE,
    WECHATPY_VECTOR,
    event,
    message,
    recorded,
)

MEDIA = {
    "MEDIA_IMG": (b"\xff\xd8\xff\xe0jpeg-bytes", "image/jpeg", "photo.jpg"),
    "MEDIA_VOICE": (b"#!AMR\nvoice", "audio/amr", "voice.amr"),
    "MEDIA_VOICE2": (b"#!AMR\nvoice2", "audio/amr", "voice2.amr"),
    "MEDIA_FILE": (b"%PDF-1.4 contract", "application/pdf", "contract.pdf"),
}


@pytest.mark.parametrize("case", [c[0] for c in recorded()])
def test_recorded_payload_maps_to_inbound_message(case: str) -> None:
    _, xml, expected = next(c for c in recorded() if c[0] == case)
    commands = {"XF_NEW": "new", "XF_STATUS": "status", "XF_HELP": "help"}
    parsed = parse_inbound(xml, commands)
    assert parsed is not None
    msg = parsed.message
    assert msg.address.channel == "wechat" and msg.address.address == OPENID
    assert parsed.reply_from == ACCOUNT
    if "text" in expected:
        assert msg.text == expected["text"]
        assert msg.external_id.startswith("msg:")
    if "attachment" in expected:
        assert msg.attachment is not None and msg.attachment.kind == expected["attachment"]
        assert parsed.media_id == expected["media_id"]
        assert msg.attachment.recognition == expected.get("recognition", "")
    if "location" in expected:
        assert msg.location is not None
        lat, lng, label = expected["location"]
        assert (msg.location.latitude, msg.location.longitude, msg.location.label) == (
            lat,
            lng,
            label,
        )
    if "event" in expected:
        assert msg.event == expected["event"]
    if "command" in expected:
        assert msg.command == expected["command"]
    if "event" in expected or "command" in expected:
        assert msg.external_id.startswith(f"ev:{OPENID}:")


def test_ignored_events_and_unknown_menu_keys() -> None:
    assert parse_inbound(event("VIEW", EventKey="https://example.org"), {}) is None
    # a delivery report is no message of the citizen: it is parsed as a report
    finished = parse_inbound(event("TEMPLATESENDJOBFINISH", Status="success", MsgID=7), {})
    assert finished is not None and finished.report is not None
    assert finished.report.receipts == (("7", "delivered", ""),)
    assert parse_inbound(event("CLICK", EventKey="NOPE"), {"XF_NEW": "new"}) is None


@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "aes"])
async def test_every_recorded_payload_over_http(rig_factory: RigFactory, aes: bool) -> None:
    rig = await rig_factory(aes=aes)
    for media_id, (data, mime, name) in MEDIA.items():
        rig.fake.add_media(media_id, data, mime, name)
    # subscribe first: the draft then asks questions the attachments and location answer
    for name, xml, expected in recorded():
        status, body = await rig.post(xml)
        assert status == 200, (name, body)
        if expected.get("event") == "unsubscribe":
            assert body == "success"
        else:
            assert body != "success", name
            assert rig.side.reply_text(body), name
    assert await rig.inbound_count() == len(recorded())
    rows = await rig.attachment_rows()
    # the voice WeChat recognised answered a question: its text is the answer, the audio
    # is no material; the one without recognition is kept
    assert sorted(r.kind for r in rows) == ["file", "image", "voice"]
    for row in rows:  # downloaded through media/get into attachment storage
        assert not row.media_ref.startswith("wechat-media:")
        path = rig.hook.attachments_dir / row.media_ref
        assert path.read_bytes() in {m[0] for m in MEDIA.values()}
    async with rig.db.read() as conn:
        reachable = (await conn.execute(select(contacts.c.reachable))).scalar_one()
    assert reachable is False  # unsubscribe came last


async def test_wechat_sample_vector_in_safe_mode(rig_factory: RigFactory) -> None:
    """WeChat's published sample: its signature, msg_signature and ciphertext."""
    rig = await rig_factory(
        token=SAMPLE["token"],
        aes_key=SAMPLE["aes_key"],
        app_id=SAMPLE["app_id"],
        max_skew_seconds=1e10,  # the sample is from 2014
    )
    query = {
        "signature": SAMPLE["signature"],
        "timestamp": SAMPLE["timestamp"],
        "nonce": SAMPLE["nonce"],
        "encrypt_type": "aes",
        "msg_signature": SAMPLE["msg_signature"],
    }
    body = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<Encrypt><![CDATA[{SAMPLE['encrypt']}]]></Encrypt></xml>"
    )
    resp = await rig.client.post("/wechat?" + urlencode(query), data=body)
    assert resp.status == 200
    reply = await resp.text()
    assert "<Encrypt>" in reply
    from tests.channels.wechat.payloads import WeChatSide

    side = WeChatSide(
        token=SAMPLE["token"], aes_key=SAMPLE["aes_key"], app_id=SAMPLE["app_id"], aes=True
    )
    assert side.reply_text(reply)
    async with rig.db.read() as conn:
        row = (await conn.execute(select(inbound_messages))).one()
    assert row.external_id == f"msg:{SAMPLE['msg_id']}"
    assert row.text == SAMPLE["content"]

    # the same ciphertext with one nonce digit changed: msg_signature no longer matches
    forged = dict(query, msg_signature="0" * 40)
    resp = await rig.client.post("/wechat?" + urlencode(forged), data=body)
    assert resp.status == 403


def test_wechatpy_vector_decrypts() -> None:
    from wechatpy.crypto import WeChatCrypto

    v = WECHATPY_VECTOR
    crypto = WeChatCrypto(v["token"], v["aes_key"], v["app_id"])
    body = f"<xml><Encrypt><![CDATA[{v['encrypt']}]]></Encrypt></xml>"
    plain = crypto.decrypt_message(body, v["msg_signature"], v["timestamp"], v["nonce"])
    assert "<Content><![CDATA[test]]></Content>" in plain


async def test_url_verification(rig_factory: RigFactory) -> None:
    rig = await rig_factory()
    query = dict(rig.side.query(), echostr="shr5ch")
    resp = await rig.client.get("/wechat?" + urlencode(query))
    assert resp.status == 200 and await resp.text() == "shr5ch"
    # WeChat's sample signature (token spamtest) is refused under another token
    sample = {k: SAMPLE[k] for k in ("signature", "timestamp", "nonce")}
    resp = await rig.client.get("/wechat?" + urlencode(dict(sample, echostr="x")))
    assert resp.status == 403
    stale = dict(rig.side.query(timestamp=int(time.time()) - 3600), echostr="x")
    resp = await rig.client.get("/wechat?" + urlencode(stale))
    assert resp.status == 403


@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "aes"])
async def test_refused_requests_store_nothing(rig_factory: RigFactory, aes: bool) -> None:
    rig = await rig_factory(aes=aes)
    xml = message("text", Content="你好")
    path, body = rig.side.post(xml)

    forged = path.replace("signature=", "signature=0")
    resp = await rig.client.post(forged, data=body)
    assert resp.status == 403

    # a replay: a correctly signed request from ten minutes ago
    status, _ = await rig.post(xml, timestamp=int(time.time()) - 600)
    assert status == 403

    resp = await rig.client.post(path, data=body + " " * 70_000)
    assert resp.status == 413

    doctype = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>' + xml
    status, _ = await rig.post(doctype)
    assert status == 400

    status, _ = await rig.post("<xml><MsgType>text")
    assert status == 400

    status, _ = await rig.post(message("text", Content="x").replace("FromUserName", "Other"))
    assert status == 400

    assert await rig.inbound_count() == 0


async def test_aes_message_refused_when_aes_not_configured(rig_factory: RigFactory) -> None:
    rig = await rig_factory(aes=True, aes_key="")
    status, _ = await rig.post(message("text", Content="你好"))
    assert status == 400
    assert await rig.inbound_count() == 0


async def test_same_msgid_three_times_sequential_and_concurrent(rig_factory: RigFactory) -> None:
    rig = await rig_factory(aes=True)
    await rig.post(event("subscribe", EventKey=""))
    xml = message("text", msg_id=111, Content="新建")
    answers = [await rig.post(xml) for _ in range(3)]
    texts = [rig.side.reply_text(body) for _, body in answers]
    assert len(set(texts)) == 1
    xml2 = message("text", msg_id=222, Content="申诉求决")
    answers = await asyncio.gather(*(rig.post(xml2) for _ in range(3)))
    texts = [rig.side.reply_text(body) for _, body in answers]
    assert len(set(texts)) == 1 and "姓名" in texts[0]
    assert await rig.inbound_count() == 3  # subscribe + two messages, each stepped once
    assert await rig.outbox_texts() == []


class SlowIntake(Intake):
    """An intake whose engine step takes longer than WeChat waits."""

    delay = 0.6

    async def handle(self, msg: InboundMessage, **kwargs: Any) -> IntakeResult:
        await asyncio.sleep(self.delay)
        return await super().handle(msg, **kwargs)


def slow(delay: float) -> Any:
    def wrap(intake: Intake) -> Intake:
        slow_intake = SlowIntake(intake.db, intake.engine)
        slow_intake.delay = delay
        return slow_intake

    return wrap


async def test_slow_step_answers_success_and_sends_through_the_outbox(
    rig_factory: RigFactory,
) -> None:
    rig = await rig_factory(wrap=slow(0.6), direct_seconds=0.2, wait_seconds=0.3)
    xml = message("text", msg_id=333, Content="新建")
    status, body = await rig.post(xml)
    assert (status, body) == (200, "success")
    await rig.hook.shutdown()  # the step finishes in the background
    queued = await rig.outbox_texts()
    # the turn's replies: one customer-service message (5 per 48 h since June 2023)
    assert len(queued) == 1 and "诉求类型" in queued[0]
    # WeChat's retries: stepped once, never answered a second time
    for _ in range(3):
        assert await rig.post(xml) == (200, "success")
    await rig.hook.shutdown()
    assert await rig.outbox_texts() == queued
    assert await rig.inbound_count() == 1


async def test_retry_while_first_delivery_still_running(rig_factory: RigFactory) -> None:
    rig = await rig_factory(wrap=slow(0.5), direct_seconds=0.2, wait_seconds=0.3)
    xml = message("text", msg_id=444, Content="新建")
    first, second, third = await asyncio.gather(rig.post(xml), rig.post(xml), rig.post(xml))
    assert first == second == third == (200, "success")
    await rig.hook.shutdown()
    assert await rig.inbound_count() == 1
    assert len(await rig.outbox_texts()) >= 1
    before = await rig.outbox_texts()
    await rig.post(xml)
    await rig.hook.shutdown()
    assert await rig.outbox_texts() == before


async def test_direct_answer_committed_after_the_request_was_answered_goes_to_outbox(
    rig_factory: RigFactory,
) -> None:
    # intake still sees itself inside its deadline when it commits, but the webhook
    # already answered "success": the replies must not be lost
    rig = await rig_factory(wrap=slow(0.4), direct_seconds=5.0, wait_seconds=0.2)
    xml = message("text", msg_id=555, Content="新建")
    assert await rig.post(xml) == (200, "success")
    await rig.hook.shutdown()
    queued = await rig.outbox_texts()
    assert len(queued) == 1 and "诉求类型" in queued[0]
    async with rig.db.read() as conn:
        mode = (await conn.execute(select(inbound_messages.c.reply_mode))).scalar_one()
    assert mode == "outbox"
    assert await rig.post(xml) == (200, "success")  # a retry is not answered again
    await rig.hook.shutdown()
    assert await rig.outbox_texts() == queued


LONG_TEXT = "事实和理由：" + "拖欠工资多次讨要无果。" * 300


class LongIntake(Intake):
    """An intake whose answer is longer than one WeChat message."""

    async def handle(self, msg: InboundMessage, **kwargs: Any) -> IntakeResult:
        result = await super().handle(msg, **kwargs)
        return replace(result, replies=[Reply("收到。"), Reply(LONG_TEXT)])


def test_pack_respects_the_byte_limit() -> None:
    messages = pack([LONG_TEXT])
    assert len(messages) > 1
    assert all(len(m.encode()) <= TEXT_LIMIT_BYTES for m in messages)
    assert "".join(messages).replace("\n", "") == LONG_TEXT
    assert all(len(m.encode()) <= TEXT_LIMIT_BYTES for m in pack(["🙏" * 1000]))
    assert pack(["一", "二"]) == ["一\n\n二"]
    assert CAPABILITIES.buttons is False


async def test_long_reply_is_split_passive_first_then_outbox(rig_factory: RigFactory) -> None:
    rig = await rig_factory(aes=True, wrap=lambda i: LongIntake(i.db, i.engine))
    xml = message("text", msg_id=666, Content="新建")
    status, body = await rig.post(xml)
    assert status == 200
    passive = rig.side.reply_text(body)
    assert passive.startswith("收到。") and len(passive.encode()) <= TEXT_LIMIT_BYTES
    queued = await rig.outbox_texts()
    assert queued and (passive + "".join(queued)).replace("\n", "") == ("收到。" + LONG_TEXT)
    # a retry gets the same passive reply and queues nothing more
    _, again = await rig.post(xml)
    assert rig.side.reply_text(again) == passive
    assert await rig.outbox_texts() == queued


async def test_image_download_failure_keeps_reference_and_fetches_later(
    rig_factory: RigFactory,
) -> None:
    rig = await rig_factory()
    rig.fake.inject("5xx", "media")
    rig.fake.add_media("MEDIA_LATE", b"late-bytes", "image/jpeg", "late.jpg")
    await rig.post(event("subscribe", EventKey=""))
    await rig.post(message("text", msg_id=9901, Content="新建"))  # a petition keeps files
    status, _ = await rig.post(message("image", PicUrl="http://x", MediaId="MEDIA_LATE"))
    assert status == 200
    await rig.hook.shutdown()
    for _ in range(50):
        rows = await rig.attachment_rows()
        if rows and not rows[0].media_ref.startswith("wechat-media:"):
            break
        await asyncio.sleep(0.1)
        await rig.hook.shutdown()
    rows = await rig.attachment_rows()
    assert (rig.hook.attachments_dir / rows[0].media_ref).read_bytes() == b"late-bytes"


async def test_media_outside_a_draft_is_neither_downloaded_nor_kept(
    rig_factory: RigFactory,
) -> None:
    rig = await rig_factory()
    rig.fake.add_media("MEDIA_IDLE", b"idle-bytes", "image/jpeg", "idle.jpg")
    status, body = await rig.post(message("image", PicUrl="http://x", MediaId="MEDIA_IDLE"))
    assert status == 200 and "附件" in rig.side.reply_text(body)  # told why
    await rig.hook.shutdown()
    assert await rig.attachment_rows() == []
    stored = [p for p in rig.hook.attachments_dir.rglob("*") if p.is_file()]
    assert stored == []
