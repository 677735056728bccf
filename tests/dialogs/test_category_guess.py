"""A subject guessed from a story is taken only when its words leave no doubt; otherwise it
is offered first when the category question comes (never recorded silently)."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.dialogs.extract import sure_category
from bot.dialogs.types import Event
from tests.dialogs.harness import START, Conversation, FakeStore, make_config

CFG = make_config()


@pytest.mark.parametrize(
    ("text", "sure"),
    [
        ("老板克扣工资，还不给加班费，希望帮忙讨回来", "labour"),  # two words of one subject
        ("我们小区门口的人行道被饭店占了，希望城管管一管", ""),  # one word: only a guess
        ("村里的路坏了三年了，希望修好", ""),  # no subject word at all
    ],
)
def test_sure_only_with_two_words_and_no_rival(text: str, sure: str) -> None:
    assert sure_category(text, CFG.gazetteer) == sure


def _conversation() -> Conversation:
    return Conversation(CFG, FakeStore(), datetime.fromisoformat(START))


def test_a_guess_is_offered_first_and_recorded_only_when_picked() -> None:
    conv = _conversation()
    story = (
        "我叫张伟，电话13857123456，住在杭州市西湖区文三路478号。我们小区门口的人行道被一家饭店"
        "占了好几个月，希望城管把人行道清出来。"
    )
    conv.handle(Event("text", text=story))
    state = conv.state
    assert state is not None and "category" not in state["draft"]["answers"]
    conv.handle(Event("text", text="学院路人行道"))  # the exact place is asked, not guessed
    asked = conv.handle(Event("text", text="你好"))["replies"][-1]
    assert "根据您的描述，可能是" in asked["text"]
    guess = state["draft"]["suggested"]["category"]
    assert asked["choices"][0].startswith(f"{guess} = ")  # the guess is option 1


def test_a_clear_subject_is_taken_and_read_back_as_from_the_story() -> None:
    conv = _conversation()
    story = (
        "我叫李强，电话13857123456，住在杭州市西湖区文三路478号。老板克扣工资，还不给加班费，"
        "希望帮忙把钱讨回来。"
    )
    reply = conv.handle(Event("text", text=story))["replies"][-1]["text"]
    state = conv.state
    assert state is not None and state["draft"]["answers"]["category"] == "labour"
    assert "问题类别：劳动社保" in reply
