"""Property-based tests of the dialog engine (hypothesis).

For any sequence of texts, platform commands, attachments, locations and clock jumps —
mixed with correct answers so that runs reach the read-back and the submission — the
engine never fails (it would answer with its internal-error text), always replies,
leaves a valid JSON state, and never loses an answer the citizen gave: an answer only
changes when the citizen answers that question again (after "返回"/"修改"), cancels,
starts over, or lets the draft expire; a submission carries every answer of the draft
that was read back.

CI runs a modest number of examples; more by hand::

    XINFANG_HYPOTHESIS_EXAMPLES=5000 pytest tests/dialogs/test_properties.py
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialogs.commands import parse_command
from bot.dialogs.engine import CONFIRM, PICK_EDIT, STATE_VERSION, EngineConfig, step
from bot.dialogs.kinds import KINDS
from bot.dialogs.types import Event
from bot.messages import Attachment, Location
from tests.dialogs.harness import START, FakeStore, make_config
from tests.petition import ANSWERS_ZH, answer_for, current_question

EXAMPLES = int(os.environ.get("XINFANG_HYPOTHESIS_EXAMPLES", "150"))
CFG = make_config()
FIELDS = {f.name for form in [CFG.forms.current()] for f in form.fields}
INTERNAL = {CFG.texts.get(lang, "error.internal") for lang in ("zh", "en")}
ANSWER = object()  # "answer the current question correctly"


@dataclass(frozen=True)
class Advance:
    """Time passes before the next input."""

    delta: timedelta


WORDS = [
    "返回", "上一步", "修改", "修改 3", "修改 99", "修改 一", "取消", "继续", "帮助", "?",
    "新建", "确认提交", "确认", "完成", "跳过", "查询", "查询 XF261121-000001-3",
    "XF261121-000001-4", "我的", "lang en", "lang zh", "/start", "/help", "／ｌａｎｇ ｅｎ",
    "满意", "不满意 太慢了", "申请复查", "申请复核", "是", "否", "1", "2", "0", "-1", "12",
    "１３８ 1234-5678", "99999999999", "西湖区", "劳动社保", "申诉求决", "建议意见", "",
    " ", "\u200b", "\x00", "<b>x</b>", "'; DROP TABLE cases; --",
]  # fmt: skip

texts = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=200),
    st.sampled_from(list(ANSWERS_ZH.values())),
    st.builds(lambda n, c: c * n, st.integers(4990, 5010), st.sampled_from(["长", "a", "👍"])),
)
commands = st.builds(
    lambda c, a: Event(kind="command", command=c, command_arg=a),
    st.sampled_from(["start", "help", "status", "cancel", "lang", "new", "my_cases", "bogus"]),
    st.one_of(
        st.just(""), st.sampled_from(["en", "zh", "XF261121-000001-3"]), st.text(max_size=20)
    ),
)
attachments = st.builds(
    lambda kind, name, rec: Event(
        kind="attachment",
        attachment=Attachment(kind, "m1", "", name, 1234, rec if kind == "voice" else ""),
    ),
    st.sampled_from(["image", "voice", "file", "video"]),
    st.text(max_size=30),
    st.text(max_size=50),
)
locations = st.builds(
    lambda lat, lon, label: Event(kind="location", location=Location(lat, lon, label)),
    # the channels refuse non-finite coordinates (they would not fit in a JSON state)
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.text(max_size=40),
)
advances = st.sampled_from(
    [Advance(timedelta(minutes=5)), Advance(timedelta(hours=2)), Advance(timedelta(days=4))]
)
noise = st.one_of(
    texts.map(lambda t: Event(kind="text", text=t)),
    commands,
    attachments,
    locations,
    advances,
)
# runs of correct answers between the noise, so that many sequences reach the read-back
inputs = st.lists(
    st.one_of(noise.map(lambda x: [x]), st.integers(1, 20).map(lambda n: [ANSWER] * n)),
    max_size=12,
).map(lambda chunks: [x for chunk in chunks for x in chunk])


def check_state(state: Any) -> None:
    """A state the engine and storage can always continue from."""
    assert json.loads(json.dumps(state, ensure_ascii=False)) == state
    assert isinstance(state, dict) and state["v"] == STATE_VERSION
    assert state.get("lang", "zh") in ("zh", "en")
    draft = state.get("draft")
    if draft is not None:
        assert draft["current"] in FIELDS | {CONFIRM, PICK_EDIT}, draft["current"]
        assert set(draft["answers"]) <= FIELDS
        assert draft["current"] not in draft["answers"] or draft["current"] in FIELDS


def may_change_answers(event: Event, expired: bool) -> bool:
    """Inputs after which earlier answers may legitimately be gone."""
    if expired:
        return True
    if event.kind == "command":
        return event.command in ("cancel", "new", "start")
    if event.kind == "text":
        command = parse_command(event.text)
        return command is not None and command.intent in ("back", "edit", "cancel", "new")
    return False


def run(sequence: list[Any], cfg: EngineConfig = CFG) -> None:
    store = FakeStore()
    now = datetime.fromisoformat(START)
    state: dict[str, Any] | None = None
    idle_since = now
    for item in sequence:
        if isinstance(item, Advance):
            now += item.delta
            continue
        if item is ANSWER:
            question = current_question(state)
            if question is None:
                event = Event(kind="text", text="新建")
            elif question == PICK_EDIT:
                event = Event(kind="text", text="1")  # which answer to change: the first
            else:
                assert state is not None
                event = Event(kind="text", text=answer_for(question, state, ANSWERS_ZH))
        else:
            event = item
        before = json.loads(json.dumps(state)) if state is not None else None
        result = step(cfg, state, event, now)
        replies = list(result.replies)
        submitted = None
        for _ in range(4):
            if result.effect is None:
                break
            if result.effect.kind == "submit":
                submitted = result.effect.submission
            resolution = store.resolve(result.effect, now)
            result = step(cfg, result.state, Event(kind="resolved", resolution=resolution), now)
            replies.extend(result.replies)
        assert result.effect is None, "the engine kept asking for effects"
        assert replies, f"no reply to {event}"
        assert not any(r.text in INTERNAL for r in replies), f"the engine failed on {event}"
        check_state(result.state)

        old = (before or {}).get("draft") or {}
        new = result.state.get("draft") or {}
        old_answers: dict[str, Any] = old.get("answers", {})
        if submitted is not None:
            # the read-back the citizen confirmed is what is filed
            for name, value in old_answers.items():
                if name == "attachments":  # a count; files sent at the read-back are added
                    assert submitted.answers.get(name, 0) >= value
                else:
                    assert submitted.answers.get(name) == value, name
        elif old_answers and not may_change_answers(event, now - idle_since > CFG.draft_ttl):
            answered = old.get("current")
            new_answers = new.get("answers", {})
            missing = object()
            changed = {n for n, v in old_answers.items() if new_answers.get(n, missing) != v}
            # answering the current question again may drop the questions that depended
            # on its old answer (and is the one way an answer changes without a command)
            if new_answers.get(answered, missing) != old_answers.get(answered, missing):
                changed = set()
            assert not changed, f"answers {changed} lost after {event}"
        state = result.state
        idle_since = now


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(inputs)
def test_any_sequence_keeps_the_conversation_sound(sequence: list[Any]) -> None:
    run(sequence)


@settings(max_examples=max(20, EXAMPLES // 5), deadline=None)
@given(st.lists(st.one_of(st.just(ANSWER), texts.map(lambda t: Event(kind="text", text=t)))))
def test_from_a_corrupted_or_foreign_state_the_engine_recovers(sequence: list[Any]) -> None:
    # states written by another version, truncated, or hand-edited still step
    for broken in ({}, {"v": 999}, {"v": STATE_VERSION, "draft": {"current": 5}}, []):
        result = step(CFG, broken, Event(kind="text", text="帮助"), datetime.fromisoformat(START))  # type: ignore[arg-type]
        assert result.replies
        check_state(result.state)
    run(sequence)


# a tracking number, a rating word or the number of a shown option: never a text answer
INTERJECTIONS = [
    "XF261121-048273-3",
    "帮我查一下 XF261121-048273-3",
    "满意",
    "基本满意，谢谢",
    "不满意",
    "申请复查",
]
FREE_TEXT = {f.name for f in CFG.forms.current().fields if KINDS[f.kind].free_text}


def _walk(answers: int) -> tuple[dict[str, Any], FakeStore]:
    """The state after ``answers`` correct answers (the first opens the form)."""
    store = FakeStore()
    now = datetime.fromisoformat(START)
    state: dict[str, Any] | None = _step_all(None, Event(kind="text", text="新建"), store, now)
    for _ in range(answers):
        question = current_question(state)
        if question in (None, CONFIRM, PICK_EDIT):
            break
        assert state is not None
        text = answer_for(question, state, ANSWERS_ZH)
        state = _step_all(state, Event(kind="text", text=text), store, now)
    return state, store


def _step_all(
    state: dict[str, Any] | None, event: Event, store: FakeStore, now: datetime
) -> dict[str, Any]:
    result = step(CFG, state, event, now)
    while result.effect is not None:
        resolution = store.resolve(result.effect, now)
        result = step(CFG, result.state, Event(kind="resolved", resolution=resolution), now)
    return result.state


@settings(max_examples=max(40, EXAMPLES // 2), deadline=None)
@given(
    st.integers(0, 20),
    st.one_of(st.sampled_from(INTERJECTIONS), st.integers(1, 20).map(str)),
)
def test_no_interjection_becomes_a_text_answer(answers: int, text: str) -> None:
    state, store = _walk(answers)
    if state is None:
        state = _step_all(
            None, Event(kind="text", text="新建"), store, datetime.fromisoformat(START)
        )
    shown = (state.get("shown") or {}).get("options") or []
    if text.isdigit() and shown:  # the number of an option that was actually shown
        text = str(min(int(text), len(shown)))
    before = dict((state.get("draft") or {}).get("answers") or {})
    after_state = _step_all(
        state, Event(kind="text", text=text), store, datetime.fromisoformat(START)
    )
    after = (after_state.get("draft") or {}).get("answers") or {}
    for name in FREE_TEXT:
        value = after.get(name)
        if value is None or before.get(name) == value:
            continue
        if text.isdigit():  # a picked option: it may finish a text, never be one
            assert value not in (text, int(text), [text]), (name, text, value)
        else:
            stored = json.dumps(value, ensure_ascii=False)
            assert text not in stored and "048273" not in stored, (name, text, value)
