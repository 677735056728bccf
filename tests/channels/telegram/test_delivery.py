"""Channel.send against the fake Bot API, and bursts through the OutboxWorker (both databases)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from telegram.request import BaseRequest, HTTPXRequest

from bot.channels.base import SendError, render_text
from bot.channels.telegram import TelegramChannel, capabilities, make_bot, make_requests
from bot.channels.telegram_request import AiohttpRequest
from bot.clock import utc_now
from bot.messages import Address, Capabilities, Choice, OutboundMessage, Reply
from bot.outbox import OutboxWorker
from bot.settings import Settings
from bot.storage import contacts
from bot.storage import outbox as rows
from bot.storage.db import Database
from tests.fakes_telegram import TOKEN, FakeTelegram

CLIENTS: list[BaseRequest] = []  # HTTP clients the test opened, closed after it


def channel_for(fake: FakeTelegram, **overrides: Any) -> TelegramChannel:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, telegram_token=TOKEN, telegram_api_base=fake.url, **overrides
    )
    requests = make_requests(settings)
    CLIENTS.extend(requests)
    return TelegramChannel(make_bot(settings, requests=requests), capabilities(settings))


def out(chat: int, text: str, *choices: tuple[str, str]) -> OutboundMessage:
    return OutboundMessage(
        Address("telegram", str(chat)), Reply(text, tuple(Choice(v, lbl) for v, lbl in choices))
    )


@pytest.fixture
async def fake() -> Any:
    server = FakeTelegram(timeout_seconds=3)
    await server.start()
    yield server
    while CLIENTS:
        await CLIENTS.pop().shutdown()
    await server.stop()


async def test_plain_text_with_inline_keyboard(fake: FakeTelegram) -> None:
    ch = channel_for(fake)
    result = await ch.send(
        out(1, "请选择 <b>不是标记</b> *也不是*", ("建议", "建议意见"), ("检举", "检举控告"))
    )
    call = fake.sent(1)[0]
    assert result.external_id == "1001"
    assert call.params["text"] == "请选择 <b>不是标记</b> *也不是*"
    assert "parse_mode" not in call.params  # plain text: nothing to escape, nothing misread
    buttons = call.params["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for row in buttons for b in row] == ["建议", "检举"]


async def test_buttons_name_the_question_they_belong_to(fake: FakeTelegram) -> None:
    ch = channel_for(fake)
    message = out(3, "是否匿名？", ("yes", "是"), ("no", "否"))
    await ch.send(replace(message, reply=replace(message.reply, ask="12")))
    buttons = fake.sent(3)[0].params["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for row in buttons for b in row] == ["12|yes", "12|no"]


async def test_long_values_fall_back_to_a_numbered_list(fake: FakeTelegram) -> None:
    ch = channel_for(fake)
    long_value = "很长的选项" * 6  # 90 bytes > 64
    await ch.send(out(2, "请选择", (long_value, "甲"), ("b", "乙")))
    call = fake.sent(2)[0]
    assert "reply_markup" not in call.params
    assert call.params["text"] == "请选择\n1． 甲\n2． 乙"


async def test_buttons_only_choices_are_buttons_here_and_dropped_without_buttons(
    fake: FakeTelegram,
) -> None:
    """An answer's push: 满意 … 申请复查 as buttons; WeChat's text alone says what to type."""
    reply = Reply(
        "请您对办理结果进行评价：回复“满意”“基本满意”或“不满意”。",
        (
            Choice("满意 XF261121-048273-3", "满意"),
            Choice("申请复查 XF261121-048273-3", "申请复查"),
        ),
        buttons_only=True,
    )
    assert Reply.from_json(reply.to_json()) == reply  # through the outbox
    await channel_for(fake).send(OutboundMessage(Address("telegram", "4"), reply))
    call = fake.sent(4)[0]
    assert call.params["text"] == reply.text
    buttons = call.params["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for row in buttons for b in row] == [
        "满意 XF261121-048273-3",
        "申请复查 XF261121-048273-3",
    ]
    assert render_text(reply, Capabilities(buttons=False)) == reply.text  # no numbered list


async def test_long_text_is_split_at_4096_and_spaced_per_chat(fake: FakeTelegram) -> None:
    ch = channel_for(fake)
    text = ("事实和理由。" * 700).strip()  # 4200 characters
    await ch.send(out(3, text, ("ok", "好的")))
    parts = fake.sent(3)
    assert len(parts) == 2
    assert all(len(p.params["text"]) <= 4096 for p in parts)
    assert "".join(p.params["text"] for p in parts) == text
    assert "reply_markup" not in parts[0].params and "reply_markup" in parts[1].params
    assert not fake.statuses(429)


@pytest.mark.parametrize("client", ["aiohttp", "httpx"])  # ours maps errors as PTB's own
@pytest.mark.parametrize(
    ("inject", "retryable", "unreachable", "retry_after"),
    [
        ("blocked", False, True, None),
        ("429", True, False, 7.0),
        ("5xx", True, False, None),
        ("timeout", True, False, None),
    ],
)
async def test_error_mapping(
    fake: FakeTelegram,
    inject: str,
    retryable: bool,
    unreachable: bool,
    retry_after: float | None,
    client: str,
) -> None:
    ch = channel_for(fake)
    if inject == "blocked":
        fake.block(4)
    else:
        fake.fail(4, inject, retry_after=7)
    if inject == "timeout" or client == "httpx":
        # a short read timeout, so the hanging fake times out quickly
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, telegram_token=TOKEN, telegram_api_base=fake.url
        )
        short: tuple[BaseRequest, BaseRequest] = (
            (HTTPXRequest(read_timeout=1.0), HTTPXRequest(read_timeout=1.0))
            if client == "httpx"
            else (AiohttpRequest(read_timeout=1.0), AiohttpRequest(read_timeout=1.0))
        )
        CLIENTS.extend(short)
        ch = TelegramChannel(make_bot(settings, requests=short), capabilities(settings))
    with pytest.raises(SendError) as err:
        await ch.send(out(4, "你好"))
    assert err.value.retryable is retryable
    assert err.value.unreachable is unreachable
    assert err.value.retry_after == retry_after


async def test_bad_request_is_permanent(fake: FakeTelegram) -> None:
    ch = channel_for(fake)
    fake.fail(5, "400")
    with pytest.raises(SendError) as err:
        await ch.send(out(5, "你好"))
    assert err.value.retryable is False
    assert err.value.unreachable is True  # "chat not found"


async def test_clearing_a_keyboard_that_is_gone_is_not_an_error(fake: FakeTelegram) -> None:
    ch = channel_for(fake)
    await ch.send(out(5, "请选择", ("a", "甲")))
    message_id = int(fake.sent(5)[0].params["chat_id"] and 1001)
    clear = OutboundMessage(
        Address("telegram", "5"),
        Reply(""),
        template={"telegram": "clear_keyboard", "message_id": message_id},
    )
    await asyncio.sleep(1.0)  # one message per second per chat
    assert (await ch.send(clear)).external_id == str(message_id)
    await asyncio.sleep(1.0)  # one message per second per chat
    assert (await ch.send(clear)).external_id == ""  # already removed: settled, not failed
    assert fake.markups == {}


async def test_already_sent_cannot_be_told(fake: FakeTelegram) -> None:
    assert await channel_for(fake).already_sent(out(6, "x")) is False


# -- bursts through the outbox worker ------------------------------------------------


async def enqueue_pushes(db: Database, chats: list[int], per_chat: int) -> dict[int, int]:
    ids: dict[int, int] = {}
    now = utc_now()
    async with db.transaction() as conn:
        for chat in chats:
            address = Address("telegram", str(chat))
            contact = await contacts.get_or_create(conn, address, now)
            ids[chat] = contact.id
            for i in range(per_chat):
                await rows.enqueue(
                    conn,
                    contact_id=contact.id,
                    address=address,
                    reply=Reply(f"您的信访事项有新进展（{i + 1}）"),
                    now=now,
                )
    return ids


async def drain(worker: OutboxWorker, fake: FakeTelegram, expected: int, limit: float) -> float:
    start = time.monotonic()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    while len(fake.sent()) < expected and time.monotonic() - start < limit:
        await asyncio.sleep(0.05)
    stop.set()
    await task
    return time.monotonic() - start


def make_worker(db: Database, ch: TelegramChannel) -> OutboxWorker:
    return OutboxWorker(
        db, {"telegram": ch}, batch=200, poll_seconds=0.05, lease=timedelta(seconds=60)
    )


async def test_burst_to_many_chats_causes_no_429(db: Database, fake: FakeTelegram) -> None:
    ch = channel_for(fake, telegram_rate_per_second=30, telegram_rate_per_chat_per_second=1)
    chats = list(range(1000, 1030))
    await enqueue_pushes(db, chats, per_chat=2)
    await drain(make_worker(db, ch), fake, 60, limit=60)
    assert len(fake.sent()) == 60
    assert not fake.statuses(429), "our own pacing must stay under Telegram's limits"
    for chat in chats:  # per chat: in order
        texts = [c.params["text"] for c in fake.sent(chat)]
        assert texts == ["您的信访事项有新进展（1）", "您的信访事项有新进展（2）"]


async def test_429_for_one_chat_delays_only_that_chat(db: Database, fake: FakeTelegram) -> None:
    ch = channel_for(fake, telegram_rate_per_second=30, telegram_rate_per_chat_per_second=1)
    chats = list(range(2000, 2010))
    await enqueue_pushes(db, chats, per_chat=1)
    fake.fail(2000, "429", times=1, retry_after=3)
    start = time.monotonic()
    await drain(make_worker(db, ch), fake, 10, limit=20)
    assert len(fake.sent()) == 10
    held = fake.sent(2000)[0].at - start
    others = max(fake.sent(c)[0].at for c in chats[1:]) - start
    assert held >= 3.0, "the chat waited as long as Telegram said"
    assert others < 2.0, "the other chats were not stalled"
    assert len(fake.statuses(429)) == 1


async def test_blocked_chat_is_marked_unreachable_and_not_retried(
    db: Database, fake: FakeTelegram
) -> None:
    ch = channel_for(fake)
    ids = await enqueue_pushes(db, [3000, 3001], per_chat=1)
    fake.block(3000)
    await drain(make_worker(db, ch), fake, 1, limit=10)
    await asyncio.sleep(0.2)
    async with db.read() as conn:
        blocked = await contacts.get(conn, ids[3000])
        fine = await contacts.get(conn, ids[3001])
    assert blocked.reachable is False and fine.reachable is True
    assert len([c for c in fake.calls if c.params.get("chat_id") == 3000]) == 1
