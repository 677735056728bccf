"""phone: a number the office can call back, read by ``phonenumbers``.

Mainland mobiles are stored as their 11 digits (as before); landlines with their area
code, Hong Kong, Macao, Taiwan and foreign numbers in E.164 ("+8657187654321",
"+85291234567"), so that citizens without a mainland mobile can file too.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import phonenumbers

from bot.dialogs.extract import cn2an_safe, normalize_phone
from bot.dialogs.validators import Invalid


def parse(field: Any, text: str, answers: Mapping[str, Any]) -> Any:
    """The number, normalised; a landline needs its area code."""
    visible = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    folded = cn2an_safe(unicodedata.normalize("NFKC", visible)).strip()
    digits = [ch for ch in folded if ch.isdigit()]
    if not digits:
        raise Invalid("invalid.phone_chars")
    try:
        number = phonenumbers.parse(folded, "CN")
    except phonenumbers.NumberParseException:
        raise Invalid("invalid.phone") from None
    if not phonenumbers.is_valid_number(number):
        if number.country_code == 86 and len(str(number.national_number)) in (7, 8):
            raise Invalid("invalid.phone_area_code")
        raise Invalid("invalid.phone")
    return normalize_phone(number)


def display(field: Any, value: Any, lang: str, t: Callable[..., str]) -> str:
    """The number as people write it."""
    raw = str(value)
    if not raw.startswith("+"):
        return raw
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return raw
    if number.country_code == 86:  # a landline as written in China: 0571-87654321
        national = phonenumbers.national_significant_number(number)
        area = phonenumbers.length_of_geographical_area_code(number)
        return f"0{national[:area]}-{national[area:]}" if area else f"0{national}"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


CASES: list[tuple[dict[str, Any], str, Any]] = [
    ({}, "13812345678", "13812345678"),
    ({}, "１３８ 1234-5678", "13812345678"),
    ({}, "+86 138 1234 5678", "13812345678"),
    ({}, "0086-13812345678", "13812345678"),
    ({}, "幺三八一二三四五六七八", "13812345678"),
    ({}, "0571-87654321", "+8657187654321"),
    ({}, "（0571）87654321", "+8657187654321"),
    ({}, "+852 9123 4567", "+85291234567"),
    ({}, "+853 6612 3456", "+85366123456"),
    ({}, "+886 912 345 678", "+886912345678"),
    ({}, "+1 415 555 2671", "+14155552671"),
    ({}, "87654321", "!invalid.phone_area_code"),
    ({}, "1381234567", "!invalid.phone"),
    ({}, "没有手机", "!invalid.phone_chars"),
]
