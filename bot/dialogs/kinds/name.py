"""name: a person's or an organisation's name, and nothing that is plainly not one.

The understanding layer already keeps greetings, fillers, help requests, commands and
tracking numbers away from answers; what reaches here is still checked, because a name
is what the office writes on the 受理告知书: "怎么弄" or "😀" or "13812345678" is not a
name, "我叫张三" gives 张三, and 匿名 is refused where the petition type needs identity.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from bot.dialogs.validators import Invalid, clean_text

FREE_TEXT = True
ANONYMOUS = ("匿名", "不留名", "不想说", "保密", "anonymous", "no name")
NEEDS_IDENTITY = ("claim",)  # 申诉求决 needs identity (信访工作条例)
_LEAD_IN = re.compile(
    r"^(?:(?:不是|我)?(?:说了吗|说过了|都说了|说了)[，,。\s]*)?"  # "不是说了吗 赵有福"
    r"(?:我叫|我的名字是|我的名字叫|名字叫|本人|我是|俺叫|俺是|姓名[:：]?|my name is|i am|i'm)?\s*",
    re.I,
)
_DIGITS = re.compile(r"\d{3,}")
_CJK = re.compile(r"[\u3400-\u9fff]")
_SENTENCE = re.compile(r"[。？?！!]|吗$|呢$|怎么|什么|为什么|如何|可以|请问")


def parse(field: Any, text: str, answers: Mapping[str, Any]) -> Any:
    """The name, without a lead-in ("我叫张三" -> 张三)."""
    value = _LEAD_IN.sub("", clean_text(text)).strip(" ，,。.")
    folded = value.casefold()
    if folded in ANONYMOUS:
        if answers.get("appeal_type") in NEEDS_IDENTITY:
            raise Invalid("invalid.name_identity_needed")
        raise Invalid("invalid.name_anonymous")
    if _DIGITS.search(value):
        raise Invalid("invalid.name_digits")
    if not value or not any(ch.isalpha() for ch in value):
        raise Invalid("invalid.name_no_letters")
    if _SENTENCE.search(value) or len(value) > field.max_len:
        raise Invalid("invalid.name_sentence")
    if len(value) == 1 and _CJK.match(value):  # "对", "是": a Chinese name has two or more
        raise Invalid("invalid.name_too_short")
    return value


def display(field: Any, value: Any, lang: str, t: Callable[..., str]) -> str:
    """The name itself."""
    return str(value)


CASES: list[tuple[dict[str, Any], str, Any]] = [
    ({}, "张三", "张三"),
    ({}, "我叫张三", "张三"),
    ({}, "本人李小红。", "李小红"),
    ({}, "杭州某某建筑有限公司", "杭州某某建筑有限公司"),
    ({}, "John Smith", "John Smith"),
    ({}, "😀", "!invalid.name_no_letters"),
    ({}, "13812345678", "!invalid.name_digits"),
    ({}, "XF261121-048273-3", "!invalid.name_digits"),
    ({}, "我刚才不是说了吗？", "!invalid.name_sentence"),
    ({}, "不是说了吗 赵有福", "赵有福"),
    ({}, "俺叫赵有福", "赵有福"),
    ({}, "这个怎么填", "!invalid.name_sentence"),
    ({}, "对", "!invalid.name_too_short"),
    ({}, "是。", "!invalid.name_too_short"),
    ({"answers": {"appeal_type": "claim"}}, "匿名", "!invalid.name_identity_needed"),
    ({"answers": {"appeal_type": "accusation"}}, "匿名", "!invalid.name_anonymous"),
]
