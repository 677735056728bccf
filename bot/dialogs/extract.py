"""What a citizen's story says: phone, name, address, 事发地, subject, request, type. Pure.

A careful clerk reads "我叫张三，电话13812345678，住在杭州市西湖区留下街道杨家牌楼村12号。
我们村里的路坏了三年了……希望政府帮忙把路修好。" and writes down the name, the phone, the
address, the district (from the address: the matter is local), the subject (路 → 建议类) and
the request (the sentence starting at 希望). :func:`extract` does the same with the cues of
config/understanding.yaml and the regions and categories of config. It only reports what
the text states: a number after "老板的电话" is not the petitioner's, "王大爷" is no name.
Phone numbers are read by ``phonenumbers`` (mobiles, landlines, +852/+853/+886, abroad),
Chinese numerals by ``cn2an``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cn2an
import phonenumbers

from bot.dialogs.vocabulary import Vocabulary, fold

_SENTENCE_END = "。！？!?\n；"  # an ASCII ; or . inside Chinese text ends nothing
_ENGLISH_END = re.compile(r"[.!?;\n](?:\s|$)")
_CLAUSE_END = _SENTENCE_END + "，,、：:"
_CJK = re.compile(r"[\u3400-\u9fff]")
# Chinese digits read one by one, as people dictate phone numbers ("幺三八…")
_SPOKEN_DIGITS = str.maketrans("零〇一幺二两三四五六七八九", "0011223456789")
# a request typed without punctuation ends where the phone number or name begins
_REQUEST_STOP = re.compile(
    r"(?:我|俺)?(?:的)?(?:电话|手机|联系方式)(?:号码)?(?:是)?\s*[\d+一幺二三四五六七八九零〇]"
)
_DIGIT_RUN = re.compile(r"\d[\d\s\-()（）.]{5,}\d")
_SPOKEN_RUN = re.compile(r"[零〇一幺二两三四五六七八九]{7,}")
_ADDRESS_MARK = re.compile(
    r"[省市区县镇乡街道村路街巷号弄组幢栋室苑园]|小区|\d+\s*(?:号|室)|"
    r"\b(?:road|street|rd|st|lane|district|village|county|town|apartment|building|no\.?)\b",
    re.IGNORECASE,
)
_ENGLISH_NAME = re.compile(r"([A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,3})")
_NOT_ENGLISH_NAMES = frozenset(
    {"Chinese", "American", "British", "From", "Living", "Writing", "Here", "Sorry", "Hangzhou"}
)
_SKIP_AFTER_CUE = " :：是为叫在"


# a configured code and every word that names it (label in each language, aliases)
Entry = tuple[str, tuple[str, ...]]


@dataclass(frozen=True)
class Gazetteer:
    """Where things are: the configured districts and subjects, as (code, words)."""

    regions: tuple[Entry, ...]
    categories: tuple[Entry, ...]

    def with_subject_words(self, words: Mapping[str, Sequence[str]]) -> Gazetteer:
        """The same, with more words for each subject (config/understanding.yaml)."""
        categories = tuple(
            (code, (*names, *words.get(code, ()))) for code, names in self.categories
        )
        return Gazetteer(self.regions, categories)

    @functools.cached_property
    def subject_words(self) -> tuple[re.Pattern[str], dict[str, str]]:
        """One pattern for every subject word, and each word's subject (built once): a
        story is scanned once, not once per word."""
        code_of: dict[str, str] = {}
        for code, names in self.categories:
            for word in sorted({fold(w) for w in names}):
                if len(word) >= 2:
                    code_of.setdefault(word, code)
        ordered = sorted(code_of, key=lambda w: (-len(w), w))
        return re.compile("|".join(map(re.escape, ordered))), code_of

    @functools.cached_property
    def region_words(self) -> tuple[tuple[str, str], ...]:
        """(folded word, code) of every district name, longest first (matched per story)."""
        words = {(fold(w), code) for code, names in self.regions for w in names if len(w) >= 2}
        return tuple(sorted(words, key=lambda item: (-len(item[0]), item)))


ROLES = ("phone", "name", "address", "region", "request", "category", "appeal_type")


def extract(
    text: str, vocab: Vocabulary, gaz: Gazetteer, roles: Sequence[str] = ROLES
) -> dict[str, str]:
    """The fields ``text`` states, by role (of ``roles``): name, phone, address, region,
    category, request, appeal_type. Values are strings; roles not stated are absent."""
    norm = cn2an_safe(unicodedata.normalize("NFKC", text))
    low = norm.casefold()  # same length as norm: spans found in one slice the other
    found: dict[str, str] = {}
    if "phone" in roles:
        found["phone"] = find_phone(norm, vocab)
    if "name" in roles:
        found["name"] = find_name(norm, low, vocab)
    span = find_address(norm, low, vocab) if {"address", "region"} & set(roles) else None
    if span is not None and "address" in roles:
        found["address"] = norm[span[0] : span[1]]
    if "region" in roles:
        found["region"] = find_region(low, gaz.region_words, span)
    request = (
        find_request(norm, low, vocab)
        if {"request", "category", "appeal_type"} & set(roles)
        else ""
    )
    if "request" in roles:
        found["request"] = request
    if "category" in roles:
        found["category"] = best_category(low, gaz, fold(request))
    if "appeal_type" in roles:
        found["appeal_type"] = appeal_type(low, vocab, bool(request))
    return {role: value for role, value in found.items() if value}


def looks_like_story(text: str, vocab: Vocabulary, found: dict[str, str]) -> bool:
    """A message that describes a matter (not a one-word answer): long enough and with a
    matter cue, or stating two fields at once."""
    if len(text.strip()) < vocab.story_min_chars:
        return False
    low = fold(text)
    return len(found) >= 2 or any(w in low for w in vocab.cue("matter"))


def cn2an_safe(text: str) -> str:
    """``text`` with spoken digit runs as ASCII digits (phone numbers dictated in words)."""
    return _SPOKEN_RUN.sub(lambda m: m.group(0).translate(_SPOKEN_DIGITS), text)


def count_in_words(text: str) -> int | None:
    """A whole number written in Chinese numerals ("十二", "两百", "一万二"), or None;
    digits side by side without a unit ("二三": two or three?) are not a number."""
    if len(text) > 1 and not any(unit in text for unit in "十拾百佰千仟万亿"):
        return None
    try:
        value = cn2an.cn2an(text, "normal")
    except (ValueError, KeyError, IndexError):
        return None
    return int(value) if isinstance(value, int | float) and float(value).is_integer() else None


# ---------------------------------------------------------------------------- phone


def normalize_phone(number: phonenumbers.PhoneNumber) -> str:
    """A mainland mobile as its 11 digits; any other number in E.164 (+8657187654321)."""
    kind = phonenumbers.number_type(number)
    if number.country_code == 86 and kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        national = str(number.national_number)
        if len(national) == 11 and national.startswith("1"):
            return national
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_phone(text: str, vocab: Vocabulary) -> str:
    """The petitioner's phone number in a story; a number said to be someone else's is
    skipped ("老板的电话139…")."""
    if not _DIGIT_RUN.search(text):
        return ""  # no run of digits a phone number could be (the matcher is costly)
    theirs = vocab.their_number
    for match in phonenumbers.PhoneNumberMatcher(text, "CN", phonenumbers.Leniency.VALID):
        if theirs.search(fold(text[max(0, match.start - 16) : match.start])):
            continue  # "老板叫刘建军，电话…", "他自己的手机…", "my boss's number"
        return normalize_phone(match.number)
    return ""


def _someone_else(before: str, others: Sequence[str]) -> bool:
    """True when the person last named before a number or an address is a third party
    ("老板叫刘建军，电话…", "我父亲住在…") rather than the writer (我, 俺, 本人)."""
    mine = max(before.rfind(w) for w in ("我", "俺", "本人", " i ", "my "))
    theirs = max((_last(before, w) for w in others), default=-1)
    return theirs > mine


def _last(text: str, word: str) -> int:
    """Where ``word`` last occurs (an English word only as a whole word), or -1."""
    if not word.isascii():
        return text.rfind(word)
    found = list(re.finditer(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text))
    return found[-1].start() if found else -1


# ---------------------------------------------------------------------------- spans


def _sentence_end(text: str, start: int) -> int:
    """Where the sentence starting at ``start`` ends: at Chinese sentence punctuation, or
    for an English sentence at a period, ! ? or ; before a space."""
    if text[start : start + 1].isascii():
        english = _ENGLISH_END.search(text, start)
        stop = english.start() if english is not None else len(text)
        return min(stop, text.find("\n", start) % (len(text) + 1))
    stop = start
    while stop < len(text):
        ch = text[stop]
        if ch in _SENTENCE_END and not (ch in "!?" and _ascii_word(text[stop + 1 : stop + 2])):
            break
        stop += 1
    return stop


def _ascii_word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _clause_end(text: str, start: int, *, english: bool) -> int:
    """Where the clause starting at ``start`` ends (an English address keeps its commas)."""
    if english:
        return _sentence_end(text, start)
    stop = start
    while stop < len(text) and text[stop] not in _CLAUSE_END.replace("、", ""):
        stop += 1
    return stop


# ---------------------------------------------------------------------------- name


def _clause_start(low: str, at: int, also: str = "") -> bool:
    return at == 0 or low[at - 1] in _CLAUSE_END + " \t" + also


def _cue_positions(low: str, cues: Sequence[str], lead: str = "") -> list[tuple[int, int]]:
    """(start, end) of every cue occurrence, longest cue first at a position; a
    one-character cue only at the start of a clause (or after one of ``lead``)."""
    spans: list[tuple[int, int]] = []
    taken: set[int] = set()
    for cue in cues:  # longest first
        start = low.find(cue)
        while start >= 0:
            if len(cue) == 1 and not _clause_start(low, start, lead):
                start = low.find(cue, start + 1)
                continue
            if start not in taken:
                spans.append((start, start + len(cue)))
                taken.update(range(start, start + len(cue)))
            start = low.find(cue, start + 1)
    return sorted(spans)


def _plausible_name(candidate: str, vocab: Vocabulary) -> bool:
    if not 2 <= len(candidate) <= 4 or not all(_CJK.match(ch) for ch in candidate):
        return False
    if any(candidate.endswith(e) for e in vocab.not_name_endings):
        return False
    if any(candidate.startswith(c) for c in vocab.compound_surnames):
        return len(candidate) >= 3
    return candidate[0] in vocab.surnames


def find_name(text: str, low: str, vocab: Vocabulary) -> str:
    """The petitioner's own name after "我叫 / 我是 / 本人 / my name is"."""
    stops = vocab.cue("after_name")
    for _start, end in _cue_positions(low, vocab.cue("name")):
        rest = text[end:].lstrip(_SKIP_AFTER_CUE)
        if rest[:1].isascii() and rest[:1].isalpha():
            m = _ENGLISH_NAME.match(rest)
            if m and m.group(1).split()[0] not in _NOT_ENGLISH_NAMES:
                return m.group(1)
            continue
        # the name ends where the text stops being Chinese characters, or where a word
        # that follows names begins ("我叫张三电话…"); "我是原杭州第二棉纺厂的职工" has no end
        head = ""
        for ch in rest[:5]:
            if not _CJK.match(ch):
                break
            head += ch
        ends = [len(head)] if len(head) <= 4 else []
        ends += [at for stop in stops if (at := head.find(stop, 2)) >= 2]
        cut = min(ends, default=0)
        candidate = head[:cut]
        if rest[cut : cut + 1] == "的" or not _plausible_name(candidate, vocab):
            continue
        return candidate
    return ""


# ---------------------------------------------------------------------------- address


def find_address(text: str, low: str, vocab: Vocabulary) -> tuple[int, int] | None:
    """(start, end) of the home address after "住在 / 家住 / 地址", verbatim."""
    stops = vocab.cue("after_address")
    others = vocab.cue("other_subject")
    for start, end in _cue_positions(low, vocab.cue("address"), lead="我俺家现在"):
        if _someone_else(low[_sentence_start(low, start) : start], others):
            continue  # "我父亲住在…": someone else's home
        begin = end
        while begin < len(text) and text[begin] in _SKIP_AFTER_CUE:
            begin += 1
        stop = _clause_end(text, begin, english=text[begin : begin + 1].isascii())
        for word in stops:
            at = low.find(word, begin, stop)
            if at > begin:
                stop = at
        span = text[begin:stop].split("（")[0].split("(")[0].rstrip(" ,，")
        if "的" in span:  # "家在X的老房子" is a property, not a home; "住X的希望…" runs on
            head, _, after = span.partition("的")
            if any(after.startswith(w) for w in _PROPERTY):
                continue
            span = head
        if len(span) >= 4 and _ADDRESS_MARK.search(span):
            return begin, begin + len(span)
    return None


_PROPERTY = ("房", "老房", "地", "宅基地", "田", "厂", "店", "公司", "山", "林", "屋")


def _sentence_start(low: str, at: int) -> int:
    starts = [low.rfind(ch, 0, at) for ch in "。！？!?\n"]
    return max(starts) + 1


# ---------------------------------------------------------------------------- district


def _mentions(low: str, words: Sequence[tuple[str, str]]) -> list[tuple[int, int, str]]:
    """(start, end, code) of every district name or alias in the text, longest first."""
    found: list[tuple[int, int, str]] = []
    covered: set[int] = set()
    for word, code in words:
        start = low.find(word)
        while start >= 0:
            if start not in covered:
                if not word.isascii() or _word_boundary(low, start, start + len(word)):
                    found.append((start, start + len(word), code))
                covered.update(range(start, start + len(word)))
            start = low.find(word, start + 1)
    return sorted(found)


def _word_boundary(low: str, start: int, end: int) -> bool:
    before = low[start - 1 : start]
    after = low[end : end + 1]
    return not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum())


def find_region(low: str, words: Sequence[tuple[str, str]], address: tuple[int, int] | None) -> str:
    """The district where the matter happened: one named outside the home address, else
    the home address's district (a local matter)."""
    mentions = _mentions(low, words)
    if not mentions:
        return ""
    outside = [
        m
        for m in mentions
        if (address is None or not address[0] <= m[0] < address[1])
        and "从" not in low[max(0, m[0] - 2) : m[0]]  # "从淳安迁过来": where they came from
    ]
    return (outside or mentions)[0][2]


# ---------------------------------------------------------------------------- subject


def best_category(low: str, gaz: Gazetteer, request: str = "") -> str:
    """The subject whose words the text uses most (longer words weigh more, words of the
    request count twice); "" on a tie."""
    pattern, code_of = gaz.subject_words
    scores: dict[str, int] = {}
    for word in {m.group(0) for m in pattern.finditer(low)}:
        code = code_of[word]
        scores[code] = scores.get(code, 0) + len(word) * (1 + (word in request))
    if not scores:
        return ""
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return ""
    return ranked[0][0]


def sure_category(text: str, gaz: Gazetteer) -> str:
    """The subject only when the text leaves no real doubt: two or more of its words, and
    more than twice the weight of any other subject ("拖欠…工资" is 劳动社保); else ""."""
    low = fold(cn2an_safe(unicodedata.normalize("NFKC", text)))
    pattern, code_of = gaz.subject_words
    words: dict[str, set[str]] = {}
    for word in {m.group(0) for m in pattern.finditer(low)}:
        words.setdefault(code_of[word], set()).add(word)
    weight = sorted(((sum(map(len, w)), c) for c, w in words.items()), reverse=True)
    if not weight or len(words[weight[0][1]]) < 2:
        return ""
    if len(weight) > 1 and weight[0][0] <= 2 * weight[1][0]:
        return ""
    return weight[0][1]


# ---------------------------------------------------------------------------- request


def find_request(text: str, low: str, vocab: Vocabulary) -> str:
    """The sentence that asks for something, from its request word to its end."""
    not_request = vocab.cue("not_request")
    spans = [
        (s, e)
        for s, e in _cue_positions(low, vocab.cue("request"), lead="我们本人特此")
        if not any(low.startswith(n, s) for n in not_request)
    ]
    clause_starts = [s for s, _ in spans if s == 0 or low[s - 1] in _CLAUSE_END + " 我们本人特此"]
    for start in clause_starts or [s for s, _ in spans]:
        stop = _sentence_end(text, start)
        cut = _REQUEST_STOP.search(text, start + 2, stop)
        if cut is not None:
            stop = cut.start()
        request = text[start:stop].rstrip(" ,，.。~～")
        if len(request) >= 4:
            return request
    return ""


def appeal_type(low: str, vocab: Vocabulary, has_request: bool) -> str:
    """建议 / 检举 / 咨询 when the story's words make it clear; 求决 when the citizen asks
    for something in the first person and nothing says otherwise; else ""."""
    for kind, words in vocab.appeal_type.items():
        if kind == "claim":
            continue
        if any(_has_word(low, w) for w in words):
            return kind
    first_person = any(_has_word(low, w) for w in vocab.appeal_type.get("claim", ()))
    return "claim" if has_request and first_person else ""


def _has_word(low: str, word: str) -> bool:
    """``word`` in the text; an English word only as a whole word."""
    if not word.isascii():
        return word in low
    return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", low) is not None
