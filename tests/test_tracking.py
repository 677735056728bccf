"""Tracking numbers: parsing as typed on phones, and the Damm check digit."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain.tracking import (
    damm_digit,
    format_tracking_no,
    looks_like_tracking_no,
    new_tracking_no,
    parse_tracking_no,
)

SAMPLES = [
    new_tracking_no(date(2026, 11, 21), "048273"),
    new_tracking_no(date(2026, 1, 1), "000000"),
    new_tracking_no(date(2027, 12, 31), "999999"),
    new_tracking_no(date(2026, 6, 15), "135790"),
]


def test_new_number_is_valid_and_formatted() -> None:
    number = new_tracking_no(date(2026, 11, 21), "048273")
    assert number == "XF2611210482733"
    assert format_tracking_no(number) == "XF261121-048273-3"
    assert damm_digit(number[2:]) == 0
    random_no = new_tracking_no(date(2026, 11, 21))
    assert parse_tracking_no(random_no).outcome == "valid"


@pytest.mark.parametrize(
    "typed",
    [
        "XF261121-048273-3", "xf2611210482733", "ＸＦ２６１１２１－０４８２７３－３",
        "xf 261121 048273 3", " XF261121.048273.3 ", "2611210482733", "xF261121_048273_3",
        "ｘｆ２６１１２１　０４８２７３　３", "XF 2611 2104 8273 3",
    ],
)  # fmt: skip
def test_typed_forms_parse(typed: str) -> None:
    parsed = parse_tracking_no(typed)
    assert (parsed.outcome, parsed.canonical) == ("valid", "XF2611210482733")


@pytest.mark.parametrize("number", SAMPLES)
def test_every_single_digit_error_is_mistyped(number: str) -> None:
    digits = number[2:]
    for i, original in enumerate(digits):
        for d in "0123456789":
            if d == original:
                continue
            wrong = digits[:i] + d + digits[i + 1 :]
            assert parse_tracking_no("XF" + wrong).outcome == "mistyped", wrong


@pytest.mark.parametrize("number", SAMPLES)
def test_every_adjacent_transposition_is_mistyped(number: str) -> None:
    digits = number[2:]
    for i in range(len(digits) - 1):
        if digits[i] == digits[i + 1]:
            continue
        swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
        assert parse_tracking_no(swapped).outcome == "mistyped", swapped


@pytest.mark.parametrize("typed", ["XF26112104827", "XF261121048273345", "2611210482733 1"])
def test_wrong_length_is_mistyped(typed: str) -> None:
    assert parse_tracking_no(typed).outcome in ("mistyped", "none")
    assert parse_tracking_no("XF261121048273").outcome == "mistyped"


@pytest.mark.parametrize("text", ["你好", "", "XF", "12345", "XFabc", "13812345678x", "查询"])
def test_not_a_number(text: str) -> None:
    assert parse_tracking_no(text).outcome == "none"
    assert not looks_like_tracking_no(text)
