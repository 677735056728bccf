"""Tracking numbers: ``XF`` + YYMMDD + 6 random digits + a Damm check digit.

Displayed as ``XF261121-048273-5``. Citizens may type it in lower case, with full-width
characters, spaces, hyphens or dots, and with or without the ``XF`` prefix. The Damm
check digit detects every single-digit error and every adjacent transposition, so a
mistyped number is told apart from an unknown one.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal

PREFIX = "XF"
_BODY_DIGITS = 12  # YYMMDD + 6 random digits
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)
# separators a phone user may put inside a number (after NFKC folding)
_SEPARATORS = re.compile(r"[\s\-_.·—–~/]+")
_CANDIDATE = re.compile(r"^(?:XF)?(\d{11,15})$")


def damm_digit(digits: str) -> int:
    """The Damm check digit of a string of ASCII digits."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return interim


def new_tracking_no(day: date, rand: str | None = None) -> str:
    """A fresh canonical tracking number for a case registered on ``day``."""
    rand = rand if rand is not None else f"{secrets.randbelow(10**6):06d}"
    body = f"{day:%y%m%d}{rand}"
    return f"{PREFIX}{body}{damm_digit(body)}"


def format_tracking_no(canonical: str) -> str:
    """Human display form: ``XF261121-048273-5``."""
    digits = canonical.removeprefix(PREFIX)
    return f"{PREFIX}{digits[:6]}-{digits[6:12]}-{digits[12:]}"


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    """Result of reading a tracking number typed by a citizen."""

    outcome: Literal["valid", "mistyped", "none"]
    canonical: str = ""


def normalize(text: str) -> str:
    """Fold full-width forms and case, drop separators: ``ｘｆ 2611-21`` -> ``XF261121``."""
    folded = unicodedata.normalize("NFKC", text).upper()
    return _SEPARATORS.sub("", folded)


def parse_tracking_no(text: str) -> ParsedNumber:
    """Recognise a tracking number in ``text`` as typed by a citizen.

    ``none`` means the text does not look like a number at all; ``mistyped`` means it
    looks like one (11-15 digits, optional prefix) but the length or check digit is wrong.
    """
    compact = normalize(text)
    m = _CANDIDATE.match(compact)
    if not m:
        return ParsedNumber("none")
    digits = m.group(1)
    if len(digits) != _BODY_DIGITS + 1 or damm_digit(digits) != 0:
        return ParsedNumber("mistyped")
    return ParsedNumber("valid", PREFIX + digits)


# "XF" followed by digits and the separators people type inside a number, anywhere in a text
_IN_TEXT = re.compile(r"XF[\s\-_.·—–~/]*\d(?:[\d\s\-_.·—–~/]*\d)?")


def find_tracking_no(text: str) -> tuple[ParsedNumber, str]:
    """The first ``XF…`` number anywhere in a sentence ("帮我查一下 XF261121-…"), and the
    text around it with the number taken out; (none, text) when there is no such number."""
    folded = unicodedata.normalize("NFKC", text)
    m = _IN_TEXT.search(folded.upper())
    if m is None:
        return ParsedNumber("none"), text
    rest = (folded[: m.start()] + " " + folded[m.end() :]).strip()
    return parse_tracking_no(m.group(0)), rest


def looks_like_tracking_no(text: str) -> bool:
    """True when the text is a tracking number attempt (valid or mistyped)."""
    return parse_tracking_no(text).outcome != "none"
