"""Pure parsers for what citizens type on phones: choices, phone numbers, counts, names.

Each parser returns a value or raises :class:`Invalid` whose ``key`` names the texts entry
that explains, in the citizen's language, why the answer was refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Protocol

_TRAILING_PUNCT = " \t.,;:!?~。，、；：！？…·"
_CHOICE_NUMBER = re.compile(r"^[(\[]?(\d{1,3})[)\].、]?$")
_PHONE_SEPARATORS = re.compile(r"[\s\-()（）.·]+")
_PHONE = re.compile(r"^1[3-9]\d{9}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_NAME_SPLIT = re.compile(r"[\s,;，、；/|]+")
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "壹": 1,
    "二": 2,
    "两": 2,
    "貳": 2,
    "贰": 2,
    "三": 3,
    "叁": 3,
    "四": 4,
    "肆": 4,
    "五": 5,
    "伍": 5,
    "六": 6,
    "陆": 6,
    "七": 7,
    "柒": 7,
    "八": 8,
    "捌": 8,
    "九": 9,
    "玖": 9,
}
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_COUNT_SUFFIXES = ("多人", "余人", "人", "个人", "个", "位", "名", "people", "persons", "person")


class Invalid(ValueError):
    """An answer was refused; ``key`` is the texts key explaining why, ``args`` its values."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class HasTokens(Protocol):
    """Anything that can be selected by a set of normalised tokens."""

    def tokens(self) -> frozenset[str]:
        """Normalised spellings that select it."""
        ...

    def compact_tokens(self) -> frozenset[str]:
        """The same spellings without spaces."""
        ...


def normalize_token(text: str) -> str:
    """Fold a short answer for matching: NFKC, case, inner spaces, trailing punctuation."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = " ".join(folded.split())
    return folded.strip(_TRAILING_PUNCT)


def clean_text(text: str) -> str:
    """Free text as stored: control and zero-width characters removed, ends stripped.

    The citizen's own characters (full-width punctuation, emoji) are kept as typed.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def match_choice(text: str, choices: Sequence[HasTokens]) -> int | None:
    """Index of the choice ``text`` selects: by number (1, １, "1."), label, alias or value."""
    token = normalize_token(text)
    if not token:
        return None
    m = _CHOICE_NUMBER.match(token)
    if m:
        n = int(m.group(1))
        return n - 1 if 1 <= n <= len(choices) else None
    for i, choice in enumerate(choices):
        if token in choice.tokens():
            return i
    compact = token.replace(" ", "")
    for i, choice in enumerate(choices):
        if compact in choice.compact_tokens():
            return i
    return None


def parse_phone(text: str) -> str:
    """A mainland mobile number normalised to 11 digits; accepts +86/0086/86 and separators."""
    # Numbers copied from a phone's contacts often carry invisible bidi or zero-width marks
    # (Unicode format characters, category Cf): they are not part of the number.
    visible = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    compact = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", visible))
    for prefix in ("+86", "0086", "86"):
        if compact.startswith(prefix) and len(compact) == len(prefix) + 11:
            compact = compact[len(prefix) :]
            break
    if compact and (not compact.isascii() or not compact.isdigit()):
        raise Invalid("invalid.phone_chars")
    if not _PHONE.match(compact):
        raise Invalid("invalid.phone")
    return compact


def _chinese_number(text: str) -> int | None:
    if not text or any(ch not in _CN_DIGITS and ch not in _CN_UNITS and ch != "万" for ch in text):
        return None
    total = 0
    if "万" in text:
        high, _, low = text.partition("万")
        high_value = _chinese_number(high) if high else 1
        low_value = _chinese_number(low) if low else 0
        if high_value is None or low_value is None:
            return None
        return high_value * 10_000 + low_value
    section = 0
    digit: int | None = None
    for ch in text:
        if ch in _CN_DIGITS:
            if digit is not None and digit != 0:
                return None  # two digits in a row ("二三") is not a number
            digit = _CN_DIGITS[ch]
        else:
            unit = _CN_UNITS[ch]
            section += (digit if digit is not None else 1) * unit
            digit = None
    total = section + (digit or 0)
    return total


def parse_count(text: str, lo: int, hi: int) -> int:
    """A number of people: "5", "５", "五", "十二人", "12 people"."""
    token = normalize_token(text).replace(" ", "")
    for suffix in _COUNT_SUFFIXES:
        if token.endswith(suffix) and len(token) > len(suffix):
            token = token[: -len(suffix)]
            break
    token = token.removeprefix("共").removeprefix("约")
    value: int | None
    if token.isascii() and token.isdigit():
        value = int(token) if len(token) <= 9 else None
    else:
        value = _chinese_number(token)
    if value is None:
        raise Invalid("invalid.integer")
    if not lo <= value <= hi:
        raise Invalid("invalid.integer_range", min=lo, max=hi)
    return value


def parse_names(text: str, max_items: int, max_len: int) -> list[str]:
    """Names separated by commas, 、 or spaces; at most ``max_items``, each reasonably short."""
    names = [n for n in _NAME_SPLIT.split(clean_text(text)) if n]
    if not names:
        raise Invalid("invalid.names_empty")
    if len(names) > max_items:
        raise Invalid("invalid.names_too_many", max=max_items, count=len(names))
    for n in names:
        if len(n) > max_len:
            raise Invalid("invalid.name_too_long", max=max_len)
    return names


def parse_text(text: str, min_len: int, max_len: int) -> str:
    """One free-text answer within its length limits."""
    value = clean_text(text)
    if len(value) < max(min_len, 1):
        raise Invalid("invalid.too_short", min=max(min_len, 1))
    if len(value) > max_len:
        raise Invalid("invalid.too_long", max=max_len, count=len(value))
    return value


def parse_verify_digits(text: str) -> str | None:
    """Exactly four digits (full-width allowed), or None."""
    token = normalize_token(text).replace(" ", "")
    return token if len(token) == 4 and token.isascii() and token.isdigit() else None


def json_safe(value: Any) -> bool:
    """True when ``value`` is made only of JSON types (used to sanity-check stored state)."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list):
        return all(json_safe(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and json_safe(v) for k, v in value.items())
    return False
