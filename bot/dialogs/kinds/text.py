"""text: one message of free text within its length limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.dialogs.validators import Invalid, parse_text

FREE_TEXT = True


def parse(field: Any, text: str, answers: Mapping[str, Any]) -> Any:
    """The text as stored (control characters removed), within min_len..max_len."""
    value = parse_text(text, field.min_len, field.max_len)
    if not any(ch.isalnum() for ch in value):
        raise Invalid("invalid.no_words")
    return value


def display(field: Any, value: Any, lang: str, t: Callable[..., str]) -> str:
    """The text itself."""
    return str(value)


CASES: list[tuple[dict[str, Any], str, Any]] = [
    ({"min_len": 4}, "请求支付拖欠工资", "请求支付拖欠工资"),
    ({"min_len": 4}, "修路", "!invalid.too_short"),
    ({"min_len": 1}, "🙏🙏", "!invalid.no_words"),
    ({"max_len": 5}, "一二三四五六", "!invalid.too_long"),
]
