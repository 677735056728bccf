"""Masking of petitioners' personal data for staff who may not see it (no ``case.pii``)."""

from __future__ import annotations

from bot.logging import mask_text


def mask_name(name: str) -> str:
    """Keep the first character: 张三丰 → 张**; an organisation name the same way."""
    name = name.strip()
    if not name:
        return ""
    return name[0] + "*" * min(len(name) - 1, 8) if len(name) > 1 else "*"


def mask_phone(phone: str) -> str:
    """Keep the first three and the last four digits: 138****8000."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 8:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_free_text(text: str) -> str:
    """Hide mobile and ID-card numbers inside a petition's own words."""
    return mask_text(text)
