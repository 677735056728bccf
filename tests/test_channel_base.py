"""render_text and split_text: what every channel builds its messages with."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.channels.base import SendError, render_text, split_text
from bot.messages import Capabilities, Choice, Reply

CHOICES = (Choice("complaint", "投诉"), Choice("advice", "建议"), Choice("help", "求助"))


# --- render_text ---------------------------------------------------------------------------


def test_render_text_numbers_choices_without_buttons() -> None:
    reply = Reply("请选择诉求类型：", CHOICES)
    assert render_text(reply, Capabilities(buttons=False)) == (
        "请选择诉求类型：\n1． 投诉\n2． 建议\n3． 求助"
    )
    assert render_text(reply, Capabilities(buttons=False), lang="en") == (
        "请选择诉求类型：\n1. 投诉\n2. 建议\n3. 求助"
    )


def test_render_text_numbers_in_the_conversations_language() -> None:
    # WeChat renders without being told the language: an English prompt gets "1." numbers
    english = Reply("What kind of petition is it?", (Choice("claim", "Claim"),))
    assert render_text(english, Capabilities(buttons=False)) == (
        "What kind of petition is it?\n1. Claim"
    )
    chinese = Reply("请选择诉求类型：", (Choice("claim", "申诉求决"),))
    assert render_text(chinese, Capabilities(buttons=False)).endswith("1． 申诉求决")


def test_render_text_leaves_choices_to_buttons() -> None:
    reply = Reply("请选择诉求类型：", CHOICES)
    assert render_text(reply, Capabilities(buttons=True)) == "请选择诉求类型："


def test_render_text_without_choices() -> None:
    assert render_text(Reply("您好"), Capabilities(buttons=False)) == "您好"
    assert render_text(Reply(""), Capabilities(buttons=False)) == ""


def test_location_hint_only_where_a_location_can_be_sent() -> None:
    """ "也可以直接发送位置" is said on WeChat and Telegram, not on the web chat or terminal."""
    reply = Reply("第5题　事情发生在哪里？", location_hint="也可以直接发送位置。")
    assert render_text(reply, Capabilities(location=True)) == (
        "第5题　事情发生在哪里？\n也可以直接发送位置。"
    )
    assert render_text(reply, Capabilities(location=False)) == "第5题　事情发生在哪里？"
    assert Reply.from_json(reply.to_json()) == reply  # kept through the outbox


def test_send_error_carries_its_classification() -> None:
    err = SendError("429", retryable=True, retry_after=3.5)
    assert (str(err), err.reason, err.retryable, err.retry_after, err.unreachable) == (
        "429",
        "429",
        True,
        3.5,
        False,
    )
    blocked = SendError("blocked", retryable=False, unreachable=True)
    assert blocked.unreachable and not blocked.retryable and blocked.retry_after is None


# --- split_text ----------------------------------------------------------------------------


def assert_split_invariants(text: str, limit: int, parts: list[str]) -> None:
    """What every split must satisfy.

    1. no part is longer than ``limit``, and no part is empty (an empty message is an
       error on every platform), unless the text itself was empty (one empty part) or
       only line breaks (no part, or the text itself when it fits);
    2. nothing is lost or reordered: the text is exactly the parts in order, with only
       runs of "\\n" (the line breaks cut at) between them, before the first or after
       the last; i.e. text == s0 + p0 + s1 + p1 + ... + pk + s(k+1), each s a run of "\\n";
    3. the cuts make progress: every part but the last covers at least half the limit
       of text (counting the newlines dropped after it), so there are few parts.
    """
    if not text:
        assert parts == [""]
        return
    if not text.strip("\n"):  # only line breaks: nothing to send, or the text as is
        assert parts in ([], [text])
        return
    assert parts, "no parts"
    assert all(len(p) <= limit for p in parts), [len(p) for p in parts]
    assert all(p for p in parts), "empty part"
    pattern = "\n*" + "\n*".join(re.escape(p) for p in parts) + "\n*"
    assert re.fullmatch(pattern, text, flags=re.DOTALL), "characters lost or changed"
    non_newlines = sum(len(p) - p.count("\n") for p in parts)
    assert non_newlines == len(text) - text.count("\n")
    if limit >= 2:
        assert len(parts) <= len(text) // (limit // 2) + 1


def test_short_text_is_one_part() -> None:
    assert split_text("您好", 10) == ["您好"]
    assert split_text("x" * 10, 10) == ["x" * 10]
    assert split_text("", 10) == [""]


def test_prefers_line_breaks() -> None:
    text = "第一段内容。很长\n" + "第二段" * 5
    parts = split_text(text, 12)
    assert parts[0] == "第一段内容。很长"
    assert_split_invariants(text, 12, parts)


def test_prefers_sentence_ends_over_hard_cuts() -> None:
    text = "一二三四五六七。八九十一二三四五六七八九十"
    parts = split_text(text, 10)
    assert parts[0] == "一二三四五六七。"
    assert_split_invariants(text, 10, parts)
    english = "Hello there. How are you doing today"
    assert split_text(english, 20)[0] == "Hello there."


def test_ignores_a_break_too_early_in_the_window() -> None:
    """A line break in the first half of the window would make a tiny part: cut later."""
    text = "ab\n" + "c" * 30
    parts = split_text(text, 10)
    assert parts[0] == "ab\ncccccc" + "c"
    assert_split_invariants(text, 10, parts)


def test_hard_cut_without_any_break() -> None:
    text = "字" * 25
    assert split_text(text, 10) == ["字" * 10, "字" * 10, "字" * 5]


def test_leading_newlines_do_not_make_an_empty_part() -> None:
    text = "\n" * 10 + "x" * 10
    parts = split_text(text, 8)
    assert_split_invariants(text, 8, parts)


@pytest.mark.parametrize("limit", [100, 2000, 4096])
def test_hundred_thousand_characters(limit: int) -> None:
    sentence = "我反映的问题是小区噪音扰民，已经持续三个月。"
    text = "\n".join(sentence * (i % 7 + 1) for i in range(1200))[:100_000]
    text = text.ljust(100_000, "字")
    assert len(text) == 100_000
    parts = split_text(text, limit)
    assert_split_invariants(text, limit, parts)
    assert len(parts) >= 100_000 // limit


texts = st.text(
    alphabet=st.sampled_from([*"ab字 \n。！？.!?", "😀"]),
    max_size=300,
)


@settings(max_examples=500, deadline=None)
@given(text=texts, limit=st.integers(min_value=1, max_value=60))
@example(text="\n\nabc", limit=1)
@example(text="a\n\n\n\nb", limit=2)
@example(text="abc\n\n\n", limit=3)
def test_split_text_properties(text: str, limit: int) -> None:
    assert_split_invariants(text, limit, split_text(text, limit))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=500), limit=st.integers(min_value=1, max_value=100))
def test_split_text_any_unicode(text: str, limit: int) -> None:
    assert_split_invariants(text, limit, split_text(text, limit))
