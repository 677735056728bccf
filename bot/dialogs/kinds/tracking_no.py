"""tracking_no: an earlier tracking number (with its check digit)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.dialogs.validators import Invalid
from bot.domain.tracking import find_tracking_no, format_tracking_no, parse_tracking_no


def parse(field: Any, text: str, answers: Mapping[str, Any]) -> Any:
    """The canonical number; a mistyped one is told apart from something else."""
    parsed = parse_tracking_no(text)
    if parsed.outcome == "none":
        parsed, _rest = find_tracking_no(text)
    if parsed.outcome == "valid":
        return parsed.canonical
    if parsed.outcome == "mistyped":
        raise Invalid("invalid.tracking_mistyped")
    raise Invalid("invalid.tracking_format")


def display(field: Any, value: Any, lang: str, t: Callable[..., str]) -> str:
    """XF261121-048273-3."""
    return format_tracking_no(str(value)) if value else ""


CASES: list[tuple[dict[str, Any], str, Any]] = [
    ({}, "XF261121-048273-3", "XF2611210482733"),
    ({}, "ｘｆ２６１１２１０４８２７３３", "XF2611210482733"),
    ({}, "编号是XF261121-048273-3", "XF2611210482733"),
    ({}, "XF261121-048273-4", "!invalid.tracking_mistyped"),
    ({}, "不记得了吧", "!invalid.tracking_format"),
]
