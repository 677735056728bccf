"""structlog setup with a processor that masks citizens' personal data in every log line."""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import structlog

# Keys whose values identify a citizen: platform ids, names, phones, addresses.
_ID_KEYS = frozenset({"address", "openid", "user_id", "chat_id", "from_user", "to_user", "session"})
_PII_KEYS = frozenset(
    {"name", "phone", "home_address", "representatives", "respondent", "text", "body", "answer"}
)
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d){8}(?!\d)")
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def mask_id(value: object) -> str:
    """A short stable pseudonym for a platform id: correlatable in logs, not reversible."""
    digest = hashlib.sha256(str(value).encode()).hexdigest()[:10]
    return f"id:{digest}"


def mask_phone(phone: str) -> str:
    """13800138000 → 138****8000 (for staff without personal-data access, and on screens
    others may see)."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "*" * len(phone)


def mask_text(value: str) -> str:
    """Hide mobile numbers and ID-card numbers inside free text."""
    value = _MOBILE.sub("1**********", value)
    return _ID_CARD.sub("******************", value)


def split_personal_numbers(value: str) -> tuple[str, list[str]]:
    """The text without what :func:`mask_text` hides, and the hidden numbers themselves."""
    found: list[str] = []

    def take(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return " "

    rest = _ID_CARD.sub(take, _MOBILE.sub(take, value))
    return rest, found


def _mask_value(key: str, value: Any) -> Any:
    if value is None or value == "":
        return value
    if key in _ID_KEYS:
        if hasattr(value, "channel") and hasattr(value, "address"):
            return f"{value.channel}:{mask_id(value.address)}"
        return mask_id(value)
    if key in _PII_KEYS:
        return f"<{len(str(value))} chars>"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(key, v) for v in value]
    return value


def mask_pii(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask personal data in all fields, including the event text."""
    for key in list(event_dict):
        event_dict[key] = _mask_value(key, event_dict[key])
    return event_dict


def configure_logging(level: str = "info", json: bool = False, path: Path | None = None) -> None:
    """Configure structlog (and stdlib logging underneath) once, at process start; to
    ``path`` instead of stderr when given (the terminal chat keeps its screen clean)."""
    numeric = getattr(logging, level.upper(), logging.INFO)
    file = path.open("a", encoding="utf-8") if path is not None else None
    logging.basicConfig(format="%(message)s", stream=file or sys.stderr, level=numeric, force=True)
    for noisy in (
        "aiohttp.access",
        "sqlalchemy.engine",
        "alembic",
        "httpx",
        "weasyprint",
        "fontTools",
    ):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_pii,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # sys.stderr looked up per logger, not captured once: a replaced stream (a test's
        # capture, a daemon's redirect) is followed instead of written to after it closed
        logger_factory=lambda *_args: structlog.PrintLogger(file or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A bound structlog logger for a module."""
    return structlog.get_logger(name)
