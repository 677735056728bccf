"""integer: a number of people, in digits or Chinese numerals (cn2an)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from bot.dialogs.extract import count_in_words
from bot.dialogs.validators import Invalid

_SUFFIXES = re.compile(r"(?:多人|余人|个人|人|个|位|名|口人|people|persons|person)$")
_PREFIXES = re.compile(r"^(?:共|一共|总共|大约|约|差不多|有)")


def parse(field: Any, text: str, answers: Mapping[str, Any]) -> Any:
    """ "5", "５", "五", "十二人", "一共两百多人", "12 people"."""
    token = unicodedata.normalize("NFKC", text).casefold().replace(" ", "").strip("。.，,!！")
    token = _PREFIXES.sub("", _SUFFIXES.sub("", token))
    if token.isascii() and token.isdigit():
        value: int | None = int(token) if len(token) <= 9 else None
    else:
        value = count_in_words(token) if token else None
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
    ({}, "很多", "!invalid.integer"),
    ({"min": 1, "max": 100}, "0", "!invalid.integer_range"),
]
