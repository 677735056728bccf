"""What a citizen means by a message, before anything is written into the form. Pure.

Every text message is read in this order, and the first reading that fits wins:

1. a command ("帮助", "取消", "修改 3", "/status", "查询 XF…");
2. the number or the words of an option that was actually shown (the state remembers
   them: "1" under "1． 完成 2． 跳过" is 完成, never a paragraph of 事实和理由); a number
   may be in words ("三", "第六个", "第6项"), except under a question asking for a count;
3. a rating or a 复查/复核 request ("不满意，路还是烂的", "申请复查 XF…，理由…");
4. a tracking number anywhere in the text ("帮我查一下 XF…"), unless the question asks
   for one;
5. a greeting, thanks or filler ("你好", "好的", "嗯", "我回来了"), also followed by talk
   about the conversation ("你好，昨天的事还没说完");
6. a request for help ("怎么弄", "不知道") or for a person ("转人工");
7. a stop to broadcasts ("TD", "别再给我发了"); outside a form, a short free answer to the
   回访 follow-up ("还没解决呢，路还是烂的", "还行吧"), asked back as a rating;
8. a story: a message that describes a matter and states fields ("我叫张三，电话…");
9. otherwise an answer to the current question.

A number that matches no shown option while options are shown is ``bad_pick``: the
citizen is asked again for one of the numbers shown, nothing is guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.dialogs import commands
from bot.dialogs.commands import CitizenAction, Command
from bot.dialogs.extract import Gazetteer, count_in_words, extract, looks_like_story
from bot.dialogs.validators import normalize_token
from bot.dialogs.vocabulary import Vocabulary
from bot.domain.tracking import ParsedNumber, find_tracking_no, parse_tracking_no

MeaningKind = Literal[
    "command",
    "pick",
    "bad_pick",
    "action",
    "lookup",
    "social",
    "help",
    "human",
    "opt_out",
    "feedback",
    "story",
    "correction",
    "answer",
]
# "修改 电话" names a question in a few characters; "修改 了合同" is a sentence
EDIT_REF_MAX_CHARS = 8
EDIT_NOT_A_REF = frozenset("了过的成为掉好")
HUMAN_MAX_CHARS = 30  # a longer message that mentions 转人工 is more likely telling a story
FEEDBACK_MAX_CHARS = 30  # a longer message that mentions 没解决 is more likely a new story
# "改一下地址", "6不对，…", "电话写错了", "change my address", "the subject is wrong, …":
# the citizen corrects an earlier answer (the engine checks that the words name one)
_CORRECT = re.compile(
    r"^(?:我要|我想|请|帮我|麻烦)?(?:改一下|改改|改下|改|修改一下|更改一下|更正一下?|重新填一下|重填)"
    r"(?:我的|一下)?(?P<ref>[^，,。；;\s]{1,8})$"
    r"|^(?:第)?(?P<ref2>[^，,。；;\s]{1,8}?)(?:项|题)?(?:写错了|填错了|不对|错了|有误|要改)"
    r"[，,。；;!！\s]*(?P<rest>.*)$"
    r"|^(?:please\s+)?(?:change|edit|fix|correct)\s+(?:the\s+|my\s+)?(?P<ref3>[a-z][a-z ]{1,20})$"
    r"|^(?:the\s+|my\s+)?(?P<ref4>[a-z][a-z ]{1,20}?)\s+is\s+wrong[,.;!\s]*(?P<rest2>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_NUMBER = re.compile(r"^[(\[]?(\d{1,3})[)\].、．]?$")
# "第6项", "第六个", "六" (voice recognition writes numbers in words): an option's number
_SPOKEN_NUMBER = re.compile(
    r"^(?:第|选|选第)?(\d{1,3}|[一二两三四五六七八九十]{1,3})(?:个|项|条|号|种|类)?$"
)
# "对 提交吧", "没问题，确认申请": a short message made only of the words of one shown option
# (modal particles at a word's end say nothing)
COMPOUND_MAX_CHARS = 12
_WORD_SPLIT = re.compile(r"[\s,，.。!！~～、]+")
_PARTICLES = "吧啊呀哈嘛"
# emoji, symbols and punctuation: a message made only of these says nothing
_NOTHING = re.compile(r"^[\W_\u2600-\u27bf\U0001f000-\U0001faff]*$")


@dataclass(frozen=True, slots=True)
class Option:
    """A shown option: its value and every normalised spelling that picks it."""

    value: str
    tokens: frozenset[str]


@dataclass(frozen=True, slots=True)
class Context:
    """What the conversation is at when the message arrives."""

    options: tuple[Option, ...] = ()  # what the last prompt showed, in its order
    in_draft: bool = False
    kind: str = ""  # the current field's kind ("" when idle, "confirm" at the read-back)
    fresh_draft: bool = False  # a draft with no answer yet: a story may fill it
    expects_number: bool = False  # the question asks for an earlier tracking number


@dataclass(frozen=True, slots=True)
class Meaning:
    """One reading of a message."""

    kind: MeaningKind
    command: Command | None = None
    value: str = ""  # pick: the option's value; social: greeting | thanks | filler | back
    number: ParsedNumber | None = None  # lookup
    action: CitizenAction | None = None
    fields: dict[str, str] = field(default_factory=dict)  # story: what it states, by role


def understand(text: str, ctx: Context, vocab: Vocabulary, gaz: Gazetteer) -> Meaning:
    """The meaning of one text message (already cleaned, not empty)."""
    cmd = commands.parse_command(text)
    if cmd is not None and not _edit_is_an_answer(cmd, text, ctx):
        return Meaning("command", command=cmd)
    token = normalize_token(text)
    if ctx.in_draft:
        fixed = _CORRECT.match(text.strip())
        if fixed is not None:
            ref = next(g for g in fixed.group("ref", "ref2", "ref3", "ref4") if g)
            rest = fixed.group("rest") or fixed.group("rest2") or ""
            return Meaning("correction", value=ref.strip(), fields={"rest": rest.strip()})
    spoken = ctx.kind != "integer"  # "三" under a count is three people, not option 3
    picked = _pick(token, ctx.options, spoken=spoken)
    if picked is not None:
        return Meaning("pick", value=picked)
    if ctx.options and ctx.kind != "integer" and _option_number(token, spoken) is not None:
        return Meaning("bad_pick")
    action = commands.parse_citizen_action(text)
    if action is not None:
        return Meaning("action", action=action)
    if not ctx.expects_number:
        number, _rest = find_tracking_no(text)
        if number.outcome == "none" and not ctx.in_draft:
            number = parse_tracking_no(text)  # a bare 13-digit number is one when idle
        if number.outcome != "none":
            return Meaning("lookup", number=number)
    social = _social(token, vocab, chat=ctx.kind != "longtext")  # facts keep every clause
    if social:
        return Meaning("social", value=social)
    compact = token.replace(" ", "")
    if token in vocab.help or compact in vocab.help or _NOTHING.match(token):
        return Meaning("help")
    if token in vocab.human or compact in vocab.human or _asks_for_person(token, vocab):
        return Meaning("human")
    if token in vocab.opt_out:
        return Meaning("opt_out")
    if not ctx.in_draft and len(text) <= FEEDBACK_MAX_CHARS:
        low = token.replace(" ", "")
        for rating, words in vocab.feedback.items():
            if any(w.replace(" ", "") in low for w in words):
                return Meaning("feedback", value=rating)
    if (not ctx.in_draft or ctx.fresh_draft) and len(text) >= vocab.story_min_chars:
        found = extract(text, vocab, gaz)
        if looks_like_story(text, vocab, found):
            return Meaning("story", fields=found)
    return Meaning("answer")


def _edit_is_an_answer(cmd: Command, text: str, ctx: Context) -> bool:
    """ "修改了合同" at a free-text question is an answer, not the edit command; "修改 电话"
    (the word, a space or colon, a few characters naming a question) is the command."""
    if not (
        ctx.in_draft
        and cmd.intent == "edit"
        and bool(cmd.arg)
        and not cmd.slash
        and not cmd.arg.strip().isdigit()
        and ctx.kind in ("text", "longtext", "place", "names")
    ):
        return False
    arg = cmd.arg.strip()
    named = (
        len(arg) <= EDIT_REF_MAX_CHARS
        and arg[:1] not in EDIT_NOT_A_REF
        and re.search(r"\s|[:：]", text.strip()[: len(text.strip()) - len(arg)]) is not None
    )
    return not named


def _option_number(token: str, spoken: bool) -> int | None:
    """The option number ``token`` is: "3", "(3)", "3、"; with ``spoken`` also "三",
    "第六个", "第6项"."""
    m = _NUMBER.match(token)
    if m:
        return int(m.group(1))
    m = _SPOKEN_NUMBER.match(token.replace(" ", "")) if spoken else None
    if m is None:
        return None
    digits = m.group(1)
    return int(digits) if digits.isdigit() else count_in_words(digits.replace("两", "二"))


def _pick(token: str, options: Sequence[Option], spoken: bool = True) -> str | None:
    """The value of the shown option ``token`` selects: by its number or its words."""
    if not options or not token:
        return None
    n = _option_number(token, spoken=False)
    if n is not None:
        return options[n - 1].value if 1 <= n <= len(options) else None
    compact = token.replace(" ", "")
    for option in options:  # words before numbers in words: an option may be "一组"
        if token in option.tokens or compact in option.tokens:
            return option.value
    n = _option_number(token, spoken)
    if n is not None:
        return options[n - 1].value if 1 <= n <= len(options) else None
    if len(compact) > COMPOUND_MAX_CHARS:
        return None
    words = [w.rstrip(_PARTICLES) or w for w in _WORD_SPLIT.split(token) if w]
    fitting = [o.value for o in options if words and all(_made_of(w, o.tokens) for w in words)]
    return fitting[0] if len(fitting) == 1 else None


def _made_of(word: str, tokens: frozenset[str]) -> bool:
    """True when ``word`` is one or more of ``tokens`` written together ("对提交")."""
    if word in tokens:
        return True
    return any(
        word[:n] in tokens and _made_of(word[n:], tokens) for n in range(len(word) - 1, 0, -1)
    )


def _asks_for_person(token: str, vocab: Vocabulary) -> bool:
    """ "能不能帮我转人工啊", "can I talk to a human": a short message that contains an
    unmistakable request for a person (words of three characters or more: "人工" alone
    could be part of a story, "人工湖")."""
    if len(token) > HUMAN_MAX_CHARS:
        return False
    compact = token.replace(" ", "")
    return any(len(w.replace(" ", "")) >= 3 and w.replace(" ", "") in compact for w in vocab.human)


def _social_kinds(part: str, vocab: Vocabulary) -> list[str] | None:
    """The social kind of each word ``part`` is made of ("好的谢谢" -> filler, thanks),
    matching the longest word first; None when some of it is not a social word."""
    kinds: list[str] = []
    while part:
        match = max(
            ((word, kind) for kind, words in vocab.social.items() for word in words),
            key=lambda wk: len(wk[0]) if part.startswith(wk[0]) else 0,
        )
        if not part.startswith(match[0]):
            return None
        kinds.append(match[1])
        part = part[len(match[0]) :]
    return kinds


def after_social(text: str, vocab: Vocabulary) -> str:
    """ "你好 俺要反映个事" -> "俺要反映个事": the text after its leading greetings and fillers."""
    rest = text.strip()
    while True:
        m = re.match(r"([^\s,，.。!！~～、；;]+)[\s,，.。!！~～、；;]+", rest)
        if m is None or _social_kinds(normalize_token(m.group(1)), vocab) is None:
            return rest
        rest = rest[m.end() :]


def _social(token: str, vocab: Vocabulary, chat: bool = True) -> str:
    """greeting / thanks / filler / back when the whole message is made of such words, or
    (``chat``) of a greeting first and then clauses about the conversation itself ("你好，
    昨天的事我还没跟你们说完": back)."""
    parts = [p for p in re.split(r"[\s,，.。!！~～、；;]+", token) if p]
    if not parts:
        return ""
    kinds = []
    for part in parts:
        kind = next((k for k, words in vocab.social.items() if part in words), "")
        if kind:
            kinds.append(kind)
            continue
        found = _social_kinds(part, vocab)
        if (
            found is None
            and chat
            and kinds[:1] in (["greeting"], ["back"])
            and any(cue in part for cue in vocab.cue("resume"))
        ):
            found = ["back"]
        if found is None:
            return ""
        kinds.extend(found)
    for preferred in ("back", "greeting", "thanks"):
        if preferred in kinds:
            return preferred
    return "filler"
