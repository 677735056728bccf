"""choice / yesno: one of the field's choices, by label, alias or value (numbers are
picked by the understanding layer from what was shown)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.dialogs.validators import Invalid, match_choice, normalize_token


def parse(field: Any, text: str, answers: Mapping[str, Any]) -> Any:
    """The value of the choice ``text`` names; a yes/no question also takes a sentence
    that opens with its yes or its no ("反映过 村里不管", "找过镇政府": yes)."""
    idx = match_choice(text, field.choices, numbers=False)
    if idx is None and field.kind == "yesno":
        idx = _leading(text, field.choices)
    if idx is None:
        raise Invalid("invalid.choice_words")
    return field.choices[idx].value


def _leading(text: str, choices: Any) -> int | None:
    """The choice whose longest word (two characters or more; a whole word in latin
    script: "none" is not "no") opens ``text``."""
    token = normalize_token(text)
    best: tuple[int, int] | None = None  # (length of the word, choice index)
    for i, choice in enumerate(choices):
        for word in choice.tokens():
            if len(word) < 2 or not token.startswith(word) or (best and len(word) <= best[0]):
                continue
            if word.isascii() and token[len(word) : len(word) + 1].isalnum():
                continue
            best = (len(word), i)
    return best[1] if best is not None else None


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
