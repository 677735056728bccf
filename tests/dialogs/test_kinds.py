"""Every field kind's own table of cases: input -> stored value, or the error key."""

from __future__ import annotations

from typing import Any

import pytest

from bot.dialogs.form import ChoiceDef, FieldDef, I18n
from bot.dialogs.kinds import KINDS
from bot.dialogs.validators import Invalid

CASES = [
    (kind.name, spec, text, expected)
    for kind in KINDS.values()
    for spec, text, expected in kind.cases
]


def _field(kind: str, spec: dict[str, Any]) -> FieldDef:
    choices = tuple(
        ChoiceDef(value, I18n(label, value), tuple(aliases.split(",")) if aliases else ())
        for value, label, aliases in (c.split(":") for c in spec.get("choices", []))
    )
    text = I18n("x", "x")
    return FieldDef(
        name="f",
        kind=kind,
        label=text,
        prompt=text,
        help=text,
        choices=choices,
        min_len=spec.get("min_len", 1),
        max_len=spec.get("max_len", 200),
        min_value=spec.get("min", 1),
        max_value=spec.get("max", 100_000),
        max_items=spec.get("max_items", 5),
    )


@pytest.mark.parametrize(("kind", "spec", "text", "expected"), CASES)
def test_kind_case(kind: str, spec: dict[str, Any], text: str, expected: Any) -> None:
    f = _field(kind, spec)
    answers = spec.get("answers", {})
    if isinstance(expected, str) and expected.startswith("!"):
        with pytest.raises(Invalid) as refused:
            KINDS[kind].parse(f, text, answers)
        assert refused.value.key == expected[1:]
    else:
        assert KINDS[kind].parse(f, text, answers) == expected


def test_every_kind_has_cases_and_texts() -> None:
    from bot.dialogs.texts import load_texts

    from .harness import CONFIG_DIR

    texts = load_texts(CONFIG_DIR)
    for kind in KINDS.values():
        assert kind.cases, kind.name
        for _spec, _text, expected in kind.cases:
            if isinstance(expected, str) and expected.startswith("!"):
                assert texts.has(expected[1:]), expected


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("13812345678", "13812345678"),
        ("+8657187654321", "0571-87654321"),
        ("+861088886666", "010-88886666"),
        ("+85291234567", "+852 9123 4567"),
    ],
)
def test_a_phone_is_shown_as_people_write_it(stored: str, shown: str) -> None:
    """A mainland landline as written in China (area code, hyphen); others internationally."""
    from bot.dialogs.kinds import phone

    assert phone.display(None, stored, "zh", lambda key, **_: key) == shown
