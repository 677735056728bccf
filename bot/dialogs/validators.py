"""Pure helpers for what citizens type on phones: folding, choices, names, free text.

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
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_NAME_SPLIT = re.compile(r"[\s,;，、；/|]+")


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


def match_choice(text: str, choices: Sequence[HasTokens], *, numbers: bool = True) -> int | None:
    """Index of the choice ``text`` selects: by number (1, １, "1."; unless ``numbers`` is
    false: then the understanding layer has read numbers against what was shown), label,
    alias or value."""
    token = normalize_token(text)
    if not token:
        return None
    m = _CHOICE_NUMBER.match(token)
    if m:
        if not numbers:
            return None
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


_HAN = re.compile(r"[\u3400-\u9fff]")
_LATIN_NAME_SPLIT = re.compile(r"\s*(?:[,，、;；/]|\band\b|&)\s*", re.I)


def parse_names(text: str, max_items: int, max_len: int) -> list[str]:
    """Names separated by commas, 、 or spaces; at most ``max_items``, each reasonably short."""
    text = clean_text(text)
    # "David Miller, Anna Schmidt": a space is inside a latin name; between Chinese names
    # ("张三 李四") it separates them
    split = _NAME_SPLIT if _HAN.search(text) else _LATIN_NAME_SPLIT
    names = [n.strip() for n in split.split(text) if n.strip()]
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
