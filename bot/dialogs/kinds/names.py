"""names: up to ``max_items`` names (集体访 representatives)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.dialogs.validators import parse_names

FREE_TEXT = True


def parse(field: Any, text: str, answers: Mapping[str, Any]) -> Any:
    """Names separated by commas, 、 or spaces."""
    return parse_names(text, field.max_items, field.max_len)


def display(field: Any, value: Any, lang: str, t: Callable[..., str]) -> str:
    """The names joined."""
    if isinstance(value, list):
        return t("summary.names_sep").join(str(v) for v in value)
    return str(value)


CASES: list[tuple[dict[str, Any], str, Any]] = [
    ({"max_items": 5, "max_len": 30}, "张三、李四", ["张三", "李四"]),
    ({"max_items": 2, "max_len": 30}, "张三,李四,王五", "!invalid.names_too_many"),
]
