"""place: a described place, or a location the citizen shared."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.dialogs.kinds import text

FREE_TEXT = True


def parse(field: Any, text_: str, answers: Mapping[str, Any]) -> Any:
    """The place as described (a shared location is recorded by the engine)."""
    return {"label": text.parse(field, text_, answers), "lat": None, "lon": None}


def display(field: Any, value: Any, lang: str, t: Callable[..., str]) -> str:
    """The description, and the coordinates of a shared location."""
    if not isinstance(value, dict):
        return str(value)
    label = str(value.get("label") or "")
    if value.get("lat") is not None:
        return f"{label} {t('summary.location', lat=value['lat'], lon=value['lon'])}".strip()
    return label


CASES: list[tuple[dict[str, Any], str, Any]] = [
    (
        {"min_len": 2},
        "文三路与学院路交叉口",
        {"label": "文三路与学院路交叉口", "lat": None, "lon": None},
    ),
    ({"min_len": 2}, "村", "!invalid.too_short"),
]
