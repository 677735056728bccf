"""attachments: photos, voice, files and locations, collected until 完成 or 跳过."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.dialogs.validators import Invalid

COLLECTS = True


def parse(field: Any, text: str, answers: Mapping[str, Any]) -> Any:
    """Text is no attachment (完成 and 跳过 are shown options, picked before this)."""
    raise Invalid("invalid.attachments_text")


def display(field: Any, value: Any, lang: str, t: Callable[..., str]) -> str:
    """How many were sent."""
    return t("summary.attachments", count=value or 0)


CASES: list[tuple[dict[str, Any], str, Any]] = [({}, "照片在这", "!invalid.attachments_text")]
