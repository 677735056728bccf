"""The console speaks one language at a time: every event kind, flag, actor and refusal
the code can produce has a zh and an en text (no raw codes on pages or in exports)."""

from __future__ import annotations

import pytest

from bot.cases import flags
from bot.cases.authority import REFUSALS
from bot.domain.statuses import ACTIONS
from bot.staff.labels import FLAGS
from bot.web.console import actor_name
from bot.web.i18n import TEXTS, translate

# timeline events written outside the state machine's actions
OTHER_EVENTS = (
    "submitted",
    "flags_changed",
    "flag_set",
    "flag_cleared",
    "details_corrected",
    "material_added",
)
REFUSAL_CODES = (*REFUSALS, "extension_days", "conflict", "required", "too_long", "invalid")
REFUSAL_CODES += ("unknown_department", "window_closed", "close_too_early", "already_linked")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_event_kind_and_refusal_has_a_text(lang: str) -> None:
    for kind in (*ACTIONS, *OTHER_EVENTS):
        assert f"event.{kind}" in TEXTS[lang], kind
    for code in REFUSAL_CODES:
        assert f"refusal.{code}" in TEXTS[lang], code


def test_every_flag_has_a_label() -> None:
    codes = {v for k, v in vars(flags).items() if k.isupper() and isinstance(v, str)}
    codes -= {v for k, v in vars(flags).items() if k.endswith(("_KEYWORDS", "_PATTERN"))}
    assert codes <= set(FLAGS), codes - set(FLAGS)


def test_actors_are_named() -> None:
    assert actor_name("citizen", "zh") == "信访人" and actor_name("system", "en") == "System"
    assert actor_name("staff:duban", "zh") == "duban"


def test_refusals_name_their_field_in_the_page_language() -> None:
    assert translate("zh", "refusal.extension_days", limit=30) == "延期天数应为 1 至 30 天。"
    assert "30" in translate("en", "refusal.extension_days", limit=30)
