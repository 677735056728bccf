"""Recognise the words and platform commands that work at every step.

A command is a whole message ("帮助", "help", "/help", "修改 3", "查询 XF261121-…"),
matched after NFKC folding, so full-width forms ("ＨＥＬＰ", "／ｌａｎｇ ｅｎ") work too.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from typing import Literal

from bot.dialogs.validators import normalize_token
from bot.domain.tracking import ParsedNumber, find_tracking_no, parse_tracking_no

Intent = Literal[
    "help",
    "back",
    "edit",
    "cancel",
    "continue",
    "status",
    "my_cases",
    "lang",
    "unsubscribe",
    "subscribe",
    "new",
    "start",
    "skip",
    "done",
    "confirm",
    "unknown",
]

# words that are commands at every step (whole message, optionally followed by an argument)
WORDS: dict[Intent, tuple[str, ...]] = {
    "help": ("帮助", "求助", "说明", "菜单", "help", "menu", "?", "？"),
    "back": ("返回", "上一步", "上一题", "back", "previous"),
    "edit": ("修改", "更改", "编辑", "edit", "change"),
    "cancel": ("取消", "撤销", "放弃", "cancel", "abort", "quit"),
    "continue": ("继续", "继续填写", "continue", "resume"),
    "status": (
        "查询",
        "进度",
        "查进度",
        "查询进度",
        "办理进度",
        "查询办理进度",
        "status",
        "track",
        "check status",
    ),
    "my_cases": ("我的", "我的事项", "我的信访", "my cases", "my case", "mine", "my"),
    "lang": ("lang", "language", "语言"),
    # broadcasts (群发通知) only; pushes about the citizen's own cases always go out
    "unsubscribe": ("退订", "取消订阅", "退订通知", "不再接收通知", "unsubscribe", "opt out"),
    "subscribe": ("订阅", "重新订阅", "恢复订阅", "接收通知", "subscribe", "opt in"),
}
# words that start a new petition (only taken as commands when no draft is open)
NEW_WORDS = (
    "新建",
    "新建信访",
    "新建信访事项",
    "我要投诉",
    "我要信访",
    "我要反映",
    "俺要反映",
    "我想反映",
    "俺想反映",
    "我有事要反映",
    "俺有事要反映",
    "我要举报",
    "俺要投诉",
    "反映问题",
    "投诉",
    "信访",
    "开始",
    "new",
    "start",
    "new petition",
    "file a petition",
)
SKIP_WORDS = ("跳过", "略过", "skip", "none", "无", "没有")
DONE_WORDS = (
    "完成",
    "好了",
    "写完了",
    "发完了",
    "说完了",
    "结束",
    "就这些",
    "就这些了",
    "没了",
    "没有了",
    "就这样",
    "done",
    "finish",
    "finished",
    "ok done",
    "that's all",
)
CONFIRM_WORDS = ("确认提交", "确认", "提交", "confirm", "submit")
LANG_WORDS = {
    "english": "en",
    "英文": "en",
    "英语": "en",
    "中文": "zh",
    "chinese": "zh",
    "简体中文": "zh",
    "汉语": "zh",
}
LANG_CODES = {"en": "en", "english": "en", "zh": "zh", "cn": "zh", "中文": "zh", "chinese": "zh"}
# platform command names (Event.command) and their intents
PLATFORM: dict[str, Intent] = {
    "start": "start",  # a platform's /start (Telegram sends it on opening the bot): the menu
    "new": "new",
    "help": "help",
    "status": "status",
    "cancel": "cancel",
    "lang": "lang",
    "language": "lang",
    "my_cases": "my_cases",
    "mycases": "my_cases",
    "my": "my_cases",
    "back": "back",
    "edit": "edit",
    "continue": "continue",
    "resume": "continue",
    "skip": "skip",
    "done": "done",
    "confirm": "confirm",
    "unsubscribe": "unsubscribe",
    "subscribe": "subscribe",
}


@dataclass(frozen=True, slots=True)
class Command:
    """A recognised command: what to do and its argument (may be empty)."""

    intent: Intent
    arg: str = ""
    slash: bool = False  # typed as "/word": a command even where words are answers


def _lookup(words: tuple[str, ...], token: str) -> bool:
    return token in words or token.replace(" ", "") in _compact(words)


@functools.cache
def _compact(words: tuple[str, ...]) -> frozenset[str]:
    # every message is matched against every command's words: computed once
    return frozenset(w.replace(" ", "") for w in words)


def _word_intent(token: str) -> Intent | None:
    """The first intent in WORDS whose words contain ``token`` (spaces ignored)."""
    exact = _INTENT_BY_WORD.get(token)
    compact = _INTENT_BY_COMPACT.get(token.replace(" ", ""))
    if exact is None or compact is None:
        return exact or compact
    return exact if _INTENT_ORDER[exact] <= _INTENT_ORDER[compact] else compact


# WORDS as lookup tables (first intent wins, as in WORDS' order): built once, because
# every message is matched against them
_INTENT_ORDER = {intent: i for i, intent in enumerate(WORDS)}
_INTENT_BY_WORD: dict[str, Intent] = {}
_INTENT_BY_COMPACT: dict[str, Intent] = {}
for _intent, _words in WORDS.items():
    for _word in _words:
        _INTENT_BY_WORD.setdefault(_word, _intent)
        _INTENT_BY_COMPACT.setdefault(_word.replace(" ", ""), _intent)
_ARG_WORDS: tuple[tuple[Intent, tuple[str, ...]], ...] = tuple(
    (intent, tuple(sorted(WORDS[intent], key=len, reverse=True)))
    for intent in ("edit", "status", "lang")
)


def parse_command(text: str) -> Command | None:
    """The command a whole message expresses, or None when it is an ordinary answer."""
    folded = unicodedata.normalize("NFKC", text).strip()
    if not folded or len(folded) > 80:
        return None
    slash = folded.startswith("/")
    body = folded.lstrip("/").strip()
    if body in ("?", "？"):
        return Command("help", "", slash)
    token = normalize_token(body)
    if not token:
        return None
    if token in LANG_WORDS:
        return Command("lang", LANG_WORDS[token], slash)
    intent_of_word = _word_intent(token)
    if intent_of_word is not None:
        return Command(intent_of_word, "", slash)
    # "<word> <arg>" forms: 修改 3, 查询 XF…, /lang en; also 修改3 / 查询XF… without a space
    for intent, longest_first in _ARG_WORDS:
        for word in longest_first:
            if token.startswith(word) and len(token) > len(word):
                rest = body[len(word) :] if body.casefold().startswith(word) else token[len(word) :]
                if word.isascii() and not rest[:1].isspace() and rest[:1] not in ":：":
                    continue  # "statusx" is not "status x"
                arg = rest.strip().lstrip(":：").strip()
                if not arg:
                    continue
                if intent == "status" and parse_tracking_no(arg).outcome == "none":
                    continue
                if intent == "lang" and lang_code(arg) is None:
                    continue
                return Command(intent, arg, slash)
    if slash:
        name = token.split()[0]
        arg = body[len(name) :].strip()
        platform = PLATFORM.get(name)
        if platform is not None:
            return Command(platform, arg, True)
        if _lookup(NEW_WORDS, token):
            return Command("new", "", True)
        return Command("unknown", name, True)
    return None


def from_platform(command: str, arg: str) -> Command:
    """The command a platform-level command (Event.command) stands for."""
    name = normalize_token(command).lstrip("/")
    intent = PLATFORM.get(name)
    if intent is None:
        return Command("unknown", name or "?", True)
    return Command(intent, arg.strip(), True)


def without_start_words(text: str) -> str:
    """The text after a leading start phrase ("我要投诉村委会…" -> "村委会…"); "" when the
    message is only a start phrase ("File a petition", "新建信访事项")."""
    token = normalize_token(text).replace(" ", "")
    for word in sorted(NEW_WORDS, key=len, reverse=True):
        compact = word.replace(" ", "")
        if len(compact) >= 2 and token.startswith(compact):
            return token[len(compact) :].lstrip("，,。.：: ")
    return text.strip()


def starts_petition(text: str) -> bool:
    """True for a message that opens with words that start a petition ("我要投诉村委会…")."""
    token = normalize_token(text).replace(" ", "")
    return any(token.startswith(w.replace(" ", "")) for w in NEW_WORDS if len(w) >= 2)


def lang_code(arg: str) -> str | None:
    """The language code an argument names ("en", "English", "中文"), or None."""
    return LANG_CODES.get(normalize_token(arg)) or LANG_WORDS.get(normalize_token(arg))


# Citizen actions on an answered case (only recognised when no draft is open).
# Longest first: "基本满意" and "不满意" both contain "满意".
RATING_WORDS: tuple[tuple[str, str], ...] = (
    ("basically satisfied", "basically_satisfied"),
    ("not satisfied", "dissatisfied"),
    ("dissatisfied", "dissatisfied"),
    ("unsatisfied", "dissatisfied"),
    ("satisfied", "satisfied"),
    ("非常满意", "satisfied"),
    ("基本满意", "basically_satisfied"),
    ("比较满意", "basically_satisfied"),
    ("非常不满意", "dissatisfied"),
    ("不满意", "dissatisfied"),
    ("满意", "satisfied"),
)
REVIEW_WORDS: dict[str, tuple[str, ...]] = {
    "review": (
        "申请复查",
        "复查申请",
        "我要复查",
        "我要申请复查",
        "要求复查",
        "request review",
        "review",
    ),
    "recheck": (
        "申请复核",
        "复核申请",
        "我要复核",
        "我要申请复核",
        "要求复核",
        "request re-examination",
        "request recheck",
        "re-examination",
    ),
}
WITHDRAW_WORDS = (
    "我要撤回信访",
    "撤回信访事项",
    "撤回信访",
    "申请撤回",
    "我要撤回",
    "撤回",
    "withdraw my petition",
    "withdraw",
)
_REVIEW_LONGEST_FIRST = tuple(
    (stage, tuple(sorted(words, key=len, reverse=True))) for stage, words in REVIEW_WORDS.items()
)
_COMMENT_SEPARATORS = " ,，.。:：;；!！-—~～"
MAX_COMMENT_CHARS = 1000  # what a case keeps of a comment or a reason (lifecycle.MAX_COMMENT)


@dataclass(frozen=True, slots=True)
class CitizenAction:
    """A rating (评价) or a 复查/复核 request typed by the citizen."""

    kind: Literal["rate", "request_review", "withdraw"]
    rating: str = ""  # satisfied | basically_satisfied | dissatisfied
    comment: str = ""
    stage: str = ""  # review | recheck
    tracking_no: str = ""  # canonical, when the citizen named the case
    reason: str = ""  # why a review is asked for ("申请复查，修路的钱还是要村民出")
    mistyped: bool = False  # a tracking number was named, but its check digit is wrong


def _rest(text: str, folded: str, word: str) -> tuple[ParsedNumber, str]:
    """(tracking number named anywhere in what follows ``word``, the remaining words);
    the words keep what the citizen typed (full-width punctuation) when NFKC folding did
    not change the length."""
    original = text.strip()
    rest = (original if len(original) == len(folded) else folded)[len(word) :]
    number, words = find_tracking_no(rest)
    if number.outcome == "none":
        number = parse_tracking_no(rest)
        words = "" if number.outcome != "none" else rest
    return number, words.strip().strip(_COMMENT_SEPARATORS).strip()[:MAX_COMMENT_CHARS]


def parse_citizen_action(text: str) -> CitizenAction | None:
    """A rating ("不满意，处理太慢 XF…") or a review request with its reason ("申请复查，修路的钱
    还是要村民出") at the start of a message; the case it names, anywhere in it."""
    folded = unicodedata.normalize("NFKC", text).strip()
    lowered = folded.casefold()
    for stage, words in _REVIEW_LONGEST_FIRST:
        for word in words:
            if not lowered.startswith(word):
                continue
            if word.isascii() and lowered[len(word) : len(word) + 1].isalnum():
                continue
            number, reason = _rest(text, folded, word)
            return CitizenAction(
                "request_review",
                stage=stage,
                tracking_no=number.canonical,
                reason=reason,
                mistyped=number.outcome == "mistyped",
            )
    for word in WITHDRAW_WORDS:  # longest first
        if lowered.startswith(word) and not (
            word.isascii() and lowered[len(word) : len(word) + 1].isalnum()
        ):
            number, reason = _rest(text, folded, word)
            return CitizenAction(
                "withdraw",
                tracking_no=number.canonical,
                reason=reason,
                mistyped=number.outcome == "mistyped",
            )
    for word, rating in RATING_WORDS:
        if not lowered.startswith(word):
            continue
        if word.isascii() and lowered[len(word) : len(word) + 1].isalnum():
            return None  # "satisfiedly" is not "satisfied"
        number, comment = _rest(text, folded, word)
        return CitizenAction(
            "rate",
            rating=rating,
            comment=comment,
            tracking_no=number.canonical,
            mistyped=number.outcome == "mistyped",
        )
    return None
