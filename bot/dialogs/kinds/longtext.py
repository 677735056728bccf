"""longtext: several messages joined in order until 完成 (事实和理由)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.dialogs.kinds import text

COLLECTS = True
DONE_OPTION = True
FREE_TEXT = True


def parse(field: Any, text_: str, answers: Mapping[str, Any]) -> Any:
    """One part of the text (the engine collects parts until 完成)."""
    return text.parse(field, text_, answers)


display = text.display

CASES: list[tuple[dict[str, Any], str, Any]] = [
    ({"min_len": 1, "max_len": 20000}, "2026年8月起公司拖欠工资", "2026年8月起公司拖欠工资"),
    ({"min_len": 1}, "👍", "!invalid.no_words"),
]
