"""Field kinds: one module each, behind one protocol (parse, display, extra options, cases).

A kind turns what a citizen typed into the value stored for a field, or refuses it with
an :class:`~bot.dialogs.validators.Invalid` whose key names the text that says why. Each
module carries ``CASES``, its table of input -> value or error key, which the tests run.
The engine and the form loader know kinds only through :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from bot.dialogs.kinds import (
    attachments,
    choice,
    integer,
    longtext,
    name,
    names,
    phone,
    place,
    text,
    tracking_no,
)

# (field, text, earlier answers keyed by role, see Form.by_roles) -> value; raises Invalid
Parse = Callable[[Any, str, Mapping[str, Any]], Any]
# (field, value, lang, t) -> the answer as the citizen reads it back; t(key, **params) -> text
Display = Callable[[Any, Any, str, Callable[..., str]], str]


@dataclass(frozen=True, slots=True)
class Kind:
    """One field kind as the engine uses it."""

    name: str
    parse: Parse
    display: Display
    collects: bool  # several messages until 完成 (longtext, attachments)
    done_option: bool  # offers 完成 (once something was collected, for longtext)
    free_text: bool  # any words are a possible answer (plausibility matters)
    cases: tuple[tuple[dict[str, Any], str, Any], ...]  # (field spec, input, value | "!key")


def _kind(module: ModuleType, kind_name: str | None = None) -> Kind:
    return Kind(
        name=kind_name or module.__name__.rsplit(".", 1)[-1],
        parse=module.parse,
        display=module.display,
        collects=getattr(module, "COLLECTS", False),
        done_option=getattr(module, "DONE_OPTION", False),
        free_text=getattr(module, "FREE_TEXT", False),
        cases=tuple(module.CASES),
    )


KINDS: dict[str, Kind] = {
    "choice": _kind(choice),
    "yesno": _kind(choice, "yesno"),
    "text": _kind(text),
    "name": _kind(name),
    "longtext": _kind(longtext),
    "phone": _kind(phone),
    "place": _kind(place),
    "integer": _kind(integer),
    "names": _kind(names),
    "tracking_no": _kind(tracking_no),
    "attachments": _kind(attachments),
}
