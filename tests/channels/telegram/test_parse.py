"""Table-driven parsing of recorded Telegram updates into channel-neutral messages."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot

from bot.channels.telegram_updates import (
    MalformedUpdate,
    _button_tap,
    _parse_with_library,
    _plain_text,
    parse_update,
)
from bot.domain.tracking import new_tracking_no
from tests.fakes_telegram import TOKEN, text_update

UPDATES: dict[str, Any] = json.loads((Path(__file__).parent / "updates.json").read_text())
BOT = Bot(TOKEN, base_url="http://127.0.0.1:9/bot{token}")

# name -> expected (fields of the InboundMessage, or None for an ignored update)
EXPECTED: dict[str, dict[str, Any] | None] = {
    "text": {"text": "我要投诉", "lang_hint": "zh-hans"},
    "command_help": {"command": "help", "command_arg": "", "lang_hint": "en"},
    "command_status_arg": {"command": "status", "command_arg": "XF261121-0001"},
    "command_my": {"command": "my_cases"},
    "command_unknown": {"command": "", "text": "/foo"},
    "deep_link_start": {"command": "start", "command_arg": "campaign-2026"},
    "callback_query": {"text": "申诉求决", "command": "", "tap": ""},  # an older keyboard
    # a button names the question it belongs to: a tap on an old keyboard is recognised
    "callback_query_question": {"text": "claim", "tap": "7", "lang_hint": "zh-hans"},
    "photo": {"attachment": ("image", "image/jpeg", "photo.jpg", 51200), "text": "现场照片"},
    # a caption is the citizen's words: it travels as the message's text
    "photo_story_caption": {
        "attachment": ("image", "image/jpeg", "photo.jpg", 51200),
        "text": "这就是那家饭店后厨，直接往下水道倒地沟油",
        "lang_hint": "en",
    },
    "video_caption": {
        "attachment": ("video", "video/mp4", "video.mp4", 204800),
        "text": "晚上十点以后还在施工，噪音很大",
    },
    "document": {"attachment": ("file", "application/pdf", "合同.pdf", 3072)},
    "voice": {"attachment": ("voice", "audio/ogg", "voice.ogg", 8000)},
    "location": {"location": (30.2741, 120.1551)},
    "edited_message": None,
    "group_message": None,
    "channel_post": None,
    "blocked_by_user": {"event": "unsubscribe"},
    "sticker": None,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_update(name: str) -> None:
    data = UPDATES[name]
    parsed = parse_update(data, BOT)
    assert parsed.update_id == data["update_id"]
    expected = EXPECTED[name]
    if expected is None:
        assert parsed.message is None
        assert parsed.reason
        return
    msg = parsed.message
    assert msg is not None
    assert msg.address.channel == "telegram"
    assert msg.address.address == "5550001"
    assert msg.external_id == str(data["update_id"])
    for key, value in expected.items():
        if key == "attachment":
            assert msg.attachment is not None
            att = msg.attachment
            assert (att.kind, att.mime, att.filename, att.size) == value
            assert parsed.file is not None
        elif key == "location":
            assert msg.location is not None
            assert (msg.location.latitude, msg.location.longitude) == value
        else:
            assert getattr(msg, key) == value, key


def test_callback_query_is_answered_and_its_keyboard_cleared() -> None:
    parsed = parse_update(UPDATES["callback_query"], BOT)
    assert parsed.callback_query_id == "4382bfdwdsb323b2d9"
    assert parsed.keyboard_message_id == 1001


def test_largest_photo_is_fetched() -> None:
    parsed = parse_update(UPDATES["photo"], BOT)
    assert parsed.file is not None and parsed.file.file_id == "AgAC-large"


def test_deep_link_with_a_tracking_number_opens_its_status() -> None:
    number = new_tracking_no(date(2026, 11, 21))
    parsed = parse_update(text_update(9, f"/start {number}"), BOT)
    assert parsed.message is not None
    assert (parsed.message.command, parsed.message.command_arg) == ("status", number)


def test_slash_text_without_a_command_entity_is_plain_text() -> None:
    parsed = parse_update(text_update(10, "/help", command=False), BOT)
    assert parsed.message is not None
    assert (parsed.message.command, parsed.message.text) == ("", "/help")


@pytest.mark.parametrize(
    "name", ["malformed_no_update_id", "malformed_bad_message", "malformed_not_object"]
)
def test_malformed_update(name: str) -> None:
    with pytest.raises(MalformedUpdate):
        parse_update(UPDATES[name], BOT)


def _variants() -> list[Any]:
    """Every recorded update, plus text updates with odd or missing fields."""
    base = UPDATES["text"]
    odd: list[Any] = [text_update(11, "hello"), text_update(12, "/help", command=False)]
    for key in ("from", "message_id", "date", "chat"):
        odd.append({**base, "message": {k: v for k, v in base["message"].items() if k != key}})
    odd.append(
        {**base, "message": {**base["message"], "chat": {"id": "5550001", "type": "private"}}}
    )
    odd.append({**base, "message": {**base["message"], "text": ""}})
    odd.append({**base, "message": {**base["message"], "from": {"id": 1, "language_code": None}}})
    user = {"id": 1, "is_bot": False, "first_name": "a", "language_code": None}
    odd.append({**base, "message": {**base["message"], "from": user}})
    tap = UPDATES["callback_query"]
    for key in ("id", "chat_instance", "from", "data", "message"):
        odd.append(
            {**tap, "callback_query": {k: v for k, v in tap["callback_query"].items() if k != key}}
        )
    group = {**tap["callback_query"]["message"], "chat": {"id": -100, "type": "group"}}
    odd.append({**tap, "callback_query": {**tap["callback_query"], "message": group}})
    return [*UPDATES.values(), *odd]


@pytest.mark.parametrize("data", _variants())
def test_direct_paths_read_what_the_library_reads(data: Any) -> None:
    """The direct reads of plain text and button taps (speed paths) match the library's."""
    try:
        library = _parse_with_library(data, BOT)
    except (MalformedUpdate, AttributeError, TypeError):
        library = None
    plain = (_plain_text(data) or _button_tap(data)) if isinstance(data, dict) else None
    if plain is None:
        return  # read by the library alone
    assert library is not None and library.message is not None and plain.message is not None
    assert replace(plain.message, received_at=library.message.received_at) == library.message
    assert replace(plain, message=None) == replace(library, message=None)


def test_direct_paths_take_the_common_updates() -> None:
    assert _plain_text(UPDATES["text"]) is not None
    assert _button_tap(UPDATES["callback_query"]) is not None
    assert _plain_text(UPDATES["command_help"]) is None  # commands carry entities


@pytest.mark.parametrize("word", ["unsubscribe", "subscribe"])
def test_broadcast_opt_commands_from_the_menu(word: str) -> None:
    parsed = parse_update(text_update(20, f"/{word}"), BOT)
    assert parsed.message is not None
    assert (parsed.message.command, parsed.message.command_arg) == (word, "")
