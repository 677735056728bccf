"""Parsers for phone text: choices, phone numbers, counts, names, commands."""

from __future__ import annotations

import pytest

from bot.dialogs import commands
from bot.dialogs.form import ChoiceDef, I18n
from bot.dialogs.kinds import KINDS
from bot.dialogs.validators import Invalid, match_choice, parse_names

from .test_kinds import _field


def parse_phone(text: str) -> str:
    return str(KINDS["phone"].parse(_field("phone", {}), text, {}))


def parse_count(text: str, lo: int, hi: int) -> int:
    return int(KINDS["integer"].parse(_field("integer", {"min": lo, "max": hi}), text, {}))


CHOICES = [
    ChoiceDef("suggestion", I18n("建议意见", "Suggestion"), ("建议",)),
    ChoiceDef("accusation", I18n("检举控告", "Accusation"), ("举报",)),
]


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("1", 0), ("１", 0), ("1.", 0), ("2、", 1), ("(2)", 1), (" 建议意见 ", 0), ("建议", 0),
        ("ＳＵＧＧＥＳＴＩＯＮ", 0), ("accusation", 1), ("Accusation!", 1), ("举报。", 1),
        ("3", None), ("0", None), ("", None), ("建", None),
    ],
)  # fmt: skip
def test_match_choice(text: str, index: int | None) -> None:
    assert match_choice(text, CHOICES) == index


@pytest.mark.parametrize(
    "text",
    ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "0086-13812345678",
     "8613812345678", "１３８１２３４５６７８", "（138）1234-5678",
     "\u202a+86 138 1234 5678\u202c", "138\u200b1234\u200b5678", "\u2066138-1234-5678\u2069"],
)  # fmt: skip
def test_phone_accepted(text: str) -> None:
    assert parse_phone(text) == "13812345678"


@pytest.mark.parametrize(
    ("text", "key"),
    [("12812345678", "invalid.phone"), ("1381234567", "invalid.phone"),
     ("138123456789", "invalid.phone"), ("12345678", "invalid.phone_area_code"),
     ("一三八", "invalid.phone_chars"), ("", "invalid.phone_chars")],
)  # fmt: skip
def test_phone_refused(text: str, key: str) -> None:
    with pytest.raises(Invalid) as err:
        parse_phone(text)
    assert err.value.key == key


@pytest.mark.parametrize(
    ("text", "value"),
    [("5", 5), ("５", 5), ("五", 5), ("十二人", 12), ("12人", 12), ("二十", 20), ("两百零五", 205),
     ("一万", 10000), ("3 people", 3), ("共8人", 8), ("十", 10)],
)  # fmt: skip
def test_count(text: str, value: int) -> None:
    assert parse_count(text, 1, 100_000) == value


@pytest.mark.parametrize("text", ["很多", "二三", "", "5.5", "-3", "99999999999"])
def test_count_refused(text: str) -> None:
    with pytest.raises(Invalid):
        parse_count(text, 1, 100_000)


def test_names() -> None:
    assert parse_names("张三、李四，王五 赵六;钱七", 5, 30) == [
        "张三",
        "李四",
        "王五",
        "赵六",
        "钱七",
    ]
    with pytest.raises(Invalid) as err:
        parse_names("a,b,c,d,e,f", 5, 30)
    assert err.value.key == "invalid.names_too_many"


@pytest.mark.parametrize(
    ("text", "intent", "arg"),
    [
        ("帮助", "help", ""), ("／ＨＥＬＰ", "help", ""), ("?", "help", ""), ("返回", "back", ""),
        ("修改 3", "edit", "3"), ("修改3", "edit", "3"), ("edit phone", "edit", "phone"),
        ("查询 XF261121-048273-3", "status", "XF261121-048273-3"), ("进度", "status", ""),
        ("我的事项", "my_cases", ""), ("My Cases", "my_cases", ""), ("/lang en", "lang", "en"),
        ("English", "lang", "en"), ("中文", "lang", "zh"), ("取消", "cancel", ""),
        ("继续", "continue", ""), ("/start", "start", ""), ("/foo", "unknown", "foo"),
    ],
)  # fmt: skip
def test_commands(text: str, intent: str, arg: str) -> None:
    cmd = commands.parse_command(text)
    assert cmd is not None and (cmd.intent, cmd.arg) == (intent, arg)


@pytest.mark.parametrize("text", ["修改了合同", "查询了很多次", "statusquo", "张三", "我要投诉"])
def test_not_commands(text: str) -> None:
    cmd = commands.parse_command(text)
    assert cmd is None or cmd.intent == "edit"  # "修改了合同": the engine decides by the field
