"""phones: up to ``max_items`` phone numbers (the 集体访 representatives' numbers), each
read like the ``phone`` kind."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from bot.dialogs.kinds import phone
from bot.dialogs.validators import Invalid, clean_text

# numbers are separated by commas, 、, semicolons or new lines (spaces may be inside one)
_SPLIT = re.compile(r"[,，、;；\n]+")


def parse(field: Any, text: str, answers: Mapping[str, Any]) -> Any:
    """The numbers, each normalised as the ``phone`` kind stores it."""
    parts = [p.strip() for p in _SPLIT.split(clean_text(text)) if p.strip()]
    if not parts:
        raise Invalid("invalid.phone_chars")
    if len(parts) > field.max_items:
        raise Invalid("invalid.names_too_many", max=field.max_items, count=len(parts))
    return [phone.parse(field, part, answers) for part in parts]


def display(field: Any, value: Any, lang: str, t: Callable[..., str]) -> str:
    """The numbers as people write them."""
    items = value if isinstance(value, list) else [value]
    return t("summary.names_sep").join(phone.display(field, v, lang, t) for v in items)


CASES: list[tuple[dict[str, Any], str, Any]] = [
    ({"max_items": 5}, "13812345678、139 1234 5678", ["13812345678", "13912345678"]),
    ({"max_items": 5}, "0571-87654321", ["+8657187654321"]),
    ({"max_items": 1}, "13812345678，13912345678", "!invalid.names_too_many"),
    ({"max_items": 5}, "13812345678、123", "!invalid.phone"),
]
