"""choice / yesno: one of the field's choices, by label, alias or value (numbers are
picked by the understanding layer from what was shown)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.dialogs.validators import Invalid, match_choice


def parse(field: Any, text: str, answers: Mapping[str, Any]) -> Any:
    """The value of the choice ``text`` names."""
    idx = match_choice(text, field.choices, numbers=False)
    if idx is None:
        raise Invalid("invalid.choice_words")
    return field.choices[idx].value


def display(field: Any, value: Any, lang: str, t: Callable[..., str]) -> str:
    """The choice's label in the conversation's language."""
    chosen = field.choice(value)
    return chosen.label.get(lang) if chosen else str(value)


CASES: list[tuple[dict[str, Any], str, Any]] = [
    ({"choices": ["suggestion:建议意见:建议", "claim:申诉求决:申诉"]}, "建议意见", "suggestion"),
    ({"choices": ["suggestion:建议意见:建议", "claim:申诉求决:申诉"]}, "申诉", "claim"),
    ({"choices": ["suggestion:建议意见:建议", "claim:申诉求决:申诉"]}, "Ｃｌａｉｍ", "claim"),
    (
        {"choices": ["suggestion:建议意见:建议", "claim:申诉求决:申诉"]},
        "随便",
        "!invalid.choice_words",
    ),
    (
        {"choices": ["suggestion:建议意见:建议", "claim:申诉求决:申诉"]},
        "1",
        "!invalid.choice_words",
    ),
]
