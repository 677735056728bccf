"""integer: a number of people, in digits or Chinese numerals (cn2an)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from bot.dialogs.extract import count_in_words
from bot.dialogs.validators import Invalid

_PREFIXES = re.compile(r"^(?:共|一共|总共|大约|约|大概|差不多|有|about|around|roughly|some)")
# the leading number of "三十来个人", "四十多个家长", "十几户", "五六个": its digits or numerals,
# then an approximation word (a clerk writes the round figure: 三十余人 -> 30)
_LEADING = re.compile(
    r"^(?P<n>\d+|[零〇一二两三四五六七八九十百千万俩仨廿卅]+)(?P<approx>多|来|余|几)?(?P<rest>(?![.\d]).*)$"
)
# "就我一个", "俺一个人", "只有我本人": the petitioner alone
SELF_ONLY = re.compile(
    r"^(?:就|只有|只是|就是)?(?:我|俺|本人|我本人|俺自己)"
    r"(?:自己|一个人|一个|一人|本人|自个儿|自个)?(?:啊|呀|吧|呢|了)?$"
    r"|^(?:just|only)\s+(?:me|myself)$|^(?:me|myself)(?:\s+alone)?$"
)
_VAGUE = re.compile(r"^(?:好几|几|很多|好多|不少|一些|许多|many|several|a few|lots)")
# "五六个": five or six (a clerk writes the lower figure)
_RANGE = re.compile(r"^([一二两三四五六七八九])([一二三四五六七八九])(?=[个人位户家名口])")
_SPELLED = {"俩": "二", "仨": "三", "廿": "二十", "卅": "三十"}
_EN_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_EN_UNITS = {w: i for i, w in enumerate(_EN_WORDS.split(" "))}
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety"
_EN_TENS = {w: 10 * i for i, w in enumerate(_TENS_WORDS.split(" "), start=2)}


def _english(words: list[str]) -> int | None:
    """ "twenty", "twenty five", "a hundred", "two hundred and ten" (a count, not a year)."""
    total, current, seen = 0, 0, False
    for word in words:
        if word in ("a", "an") and not seen:
            current, seen = 1, True
        elif word in _EN_UNITS:
            current += _EN_UNITS[word]
            seen = True
        elif word in _EN_TENS:
            current += _EN_TENS[word]
            seen = True
        elif word == "hundred" and seen:
            current *= 100
        elif word == "thousand" and seen:
            total, current = total + current * 1000, 0
        elif word == "and" and seen:
            continue
        else:
            break
    return total + current if seen else None


def _number(token: str) -> int | None:
    if _VAGUE.match(token):
        return None
    for spelled, numerals in _SPELLED.items():
        token = token.replace(spelled, numerals)
    ranged = _RANGE.match(token)
    if ranged:  # "五六个": at least five
        token = ranged.group(1) + token[ranged.end() :]
    found = _LEADING.match(token)
    if found is None:
        return _english(re.findall(r"[a-z]+", token))
    digits = found.group("n")
    if digits.isdigit():
        return int(digits) if len(digits) <= 9 else None
    return count_in_words(digits)


def parse(field: Any, text: str, answers: Mapping[str, Any]) -> Any:
    """ "5", "五", "十二人", "一共两百多人", "三十来个", "十几户", "俩", "twenty", "就我一个"."""
    token = unicodedata.normalize("NFKC", text).casefold().strip("。.，,!！ ")
    if SELF_ONLY.match(token):
        return 1
    token = _PREFIXES.sub("", token).strip()
    value = _number(token) if token else None
    if value is None:
        raise Invalid("invalid.integer")
    if not field.min_value <= value <= field.max_value:
        raise Invalid("invalid.integer_range", min=field.min_value, max=field.max_value)
    return value


def display(field: Any, value: Any, lang: str, t: Callable[..., str]) -> str:
    """The number in digits."""
    return str(value)


CASES: list[tuple[dict[str, Any], str, Any]] = [
    ({}, "5", 5),
    ({}, "５", 5),
    ({}, "五", 5),
    ({}, "十二人", 12),
    ({}, "一共两百多人", 200),
    ({}, "12 people", 12),
    ({}, "三十来个", 30),
    ({}, "四十多个家长", 40),
    ({}, "十几户", 10),
    ({}, "三百多口人", 300),
    ({}, "俩", 2),
    ({}, "仨人", 3),
    ({}, "五六个", 5),
    ({}, "廿五", 25),
    ({}, "twenty", 20),
    ({}, "about twenty families", 20),
    ({}, "twenty five people", 25),
    ({}, "a hundred", 100),
    ({}, "就我一个", 1),
    ({}, "俺一个人", 1),
    ({}, "就俺自己", 1),
    ({}, "只有我本人", 1),
    ({}, "just me", 1),
    ({}, "好几十个", "!invalid.integer"),
    ({}, "很多", "!invalid.integer"),
    ({"min": 1, "max": 100}, "0", "!invalid.integer_range"),
]
