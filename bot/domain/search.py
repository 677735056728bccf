"""Full-text search over Chinese petitions: CJK bigrams and words, the same on both databases.

Chinese has no spaces, so a case's searchable text is stored as *search documents*:
every run of CJK characters becomes its overlapping bigrams ("拆迁补偿" → "拆迁 迁补 补偿")
and every other word is lower-cased, NFKC-normalised (full-width → half-width). A query
term of two or more CJK characters is a phrase of its bigrams, so "补偿款" matches exactly
the documents containing "补偿款".

Each case has two documents (migration 0009):

* ``search_doc``, what every staff member may read: the tracking number and the free
  text (request, facts, …) with the mobile and ID-card numbers that masking hides taken
  out. Searching without ``case.pii`` reads this document only, so no result can depend
  on a value the searcher sees masked.
* ``search_pii``, the personal data: name, address, representatives, the phone number
  and the numbers taken out of the free text. Only searched for staff with ``case.pii``.

Numbers: a tracking number is also stored as the ``tn``-marked suffixes of its digits, so
any part of it is a prefix query; a personal number is also stored reversed (``sx``), so
its last digits are a prefix query too. SQLite indexes the two documents as the two
columns of the FTS5 table ``cases_fts``; PostgreSQL as one stored tsvector with the public
document weighted A and the personal one B (a query without ``case.pii`` asks for A).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.tracking import parse_tracking_no
from bot.logging import split_personal_numbers

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
# a number as staff type it: digits with spaces, hyphens, dots or brackets between them,
# optionally after "+" (a country code) or "XF" (a tracking number); else a word
_QUERY_PART = re.compile(
    rf"(?P<number>(?:\+|xf)?[\s\-]*\d(?:[\s\-./()]*\d)*)|(?P<word>[{_CJK}]+|[^\W_{_CJK}]+)"
)
_NOT_DIGIT = re.compile(r"\D")
MAX_QUERY_TERMS = 8
MIN_DIGITS = 4  # the shortest part of a tracking number, or end of a phone, searched for
TRACKING_MARK = "tn"  # tn<digits from some position of a tracking number to its end>
SUFFIX_MARK = "sx"  # sx<a personal number's digits, last first>
PUBLIC_COLUMN = "search_doc"
PERSONAL_COLUMN = "search_pii"
# Answers every staff member reads (free text: the numbers masking hides are taken out)
PUBLIC_ANSWERS = ("request", "facts", "respondent", "incident_place")
# The petitioner's personal data (form fields with ``pii: true``): masked for staff
# without case.pii, and searched only for staff with it
PERSONAL_ANSWERS = ("name", "phone", "address", "representatives", "representative_phones")
PHONE_ANSWERS = ("phone", "representative_phones")  # numbers, searched by their digits


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _tokens(run: str) -> list[str]:
    if not _CJK_RUN.fullmatch(run):
        return [run]
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def search_doc(texts: Iterable[str]) -> str:
    """The search document for some texts (a case's answers)."""
    out: list[str] = []
    for text in texts:
        for run in _TOKEN.findall(_normalise(text)):
            out.extend(_tokens(run))
    return " ".join(out)


def national(digits: str, plus: bool = False) -> str:
    """A phone number's digits without China's country code (landlines with their 0)."""
    if digits.startswith("0086"):
        digits, plus = digits[4:], True
    elif len(digits) == 13 and digits.startswith("861"):
        plus = True
    if plus and digits.startswith("86"):
        digits = digits[2:]
        return digits if digits.startswith(("0", "1")) else "0" + digits
    return digits


def number_tokens(number: str) -> list[str]:
    """A personal number's tokens: itself (prefix search) and its reversal (its end)."""
    folded = _normalise(number)
    compact = national(_NOT_DIGIT.sub("", folded), folded.lstrip().startswith("+"))
    if folded.rstrip().endswith("x") and len(compact) == 17:  # an ID card's check "digit"
        compact += "x"
    return [compact, SUFFIX_MARK + compact[::-1]] if compact else []


def tracking_doc(tracking_no: str) -> str:
    """The public tokens of a tracking number: itself and every suffix of its digits."""
    if not tracking_no:
        return ""
    digits = _NOT_DIGIT.sub("", tracking_no)
    parts = [tracking_no.casefold()]
    parts += [TRACKING_MARK + digits[i:] for i in range(len(digits) - MIN_DIGITS + 1)]
    return " ".join(parts)


def _answer_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):  # a place: its label (coordinates are not words)
        return str(value.get("label") or "")
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def case_search_doc(answers: dict[str, object], tracking_no: str = "") -> str:
    """The public search document of a case (what every staff member may search): the
    free texts without their mobile and ID-card numbers, and without the petitioner's own
    name, address and representatives where the text repeats them (else a search for a
    name would tell a role without personal-data access whose case it is)."""
    own = sorted(
        {v.strip() for k in PERSONAL_ANSWERS if k != "phone" for v in _values(answers.get(k))},
        key=len,
        reverse=True,
    )
    texts = []
    for key in PUBLIC_ANSWERS:
        text = split_personal_numbers(_answer_text(answers.get(key)))[0]
        for value in own:
            if len(value) >= 2:
                text = text.replace(value, " ")
        texts.append(text)
    return " ".join(part for part in (tracking_doc(tracking_no), search_doc(texts)) if part)


def _values(value: object) -> list[str]:
    """The strings inside an answer (text, list or mapping)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _values(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _values(v)]
    return []


def case_pii_doc(answers: dict[str, object], phone: str = "") -> str:
    """The personal search document of a case (searched only with case.pii)."""
    words = [_answer_text(answers.get(k)) for k in PERSONAL_ANSWERS if k not in PHONE_ANSWERS]
    given = [_answer_text(answers.get("phone")), phone]
    others = answers.get("representative_phones")
    given += [str(n) for n in others] if isinstance(others, list) else []
    numbers = [n for n in dict.fromkeys(given) if n]
    for key in PUBLIC_ANSWERS:
        numbers += split_personal_numbers(_answer_text(answers.get(key)))[1]
    tokens = [search_doc(words), *(t for n in numbers for t in number_tokens(n))]
    return " ".join(t for t in tokens if t)


@dataclass(frozen=True, slots=True)
class Phrase:
    """Consecutive tokens that must appear in order, or one token matched as a prefix."""

    tokens: tuple[str, ...]
    prefix: bool  # a single token matched as a prefix (a latin word, a lone CJK character)
    personal: bool = False  # only personal data holds it (a phone's end): needs case.pii


@dataclass(frozen=True, slots=True)
class Term:
    """One term of a query: any of its phrases matches it."""

    phrases: tuple[Phrase, ...]


def _number_term(text: str) -> Term:
    digits = _NOT_DIGIT.sub("", text)
    if "xf" in text:  # only ever part of a tracking number
        return Term((Phrase((TRACKING_MARK + digits,), True),))
    phrases = [Phrase((digits,), True)]  # a number written in the text
    if len(digits) >= MIN_DIGITS:
        phrases.append(Phrase((TRACKING_MARK + digits,), True))
    phone = national(digits, text.lstrip(" -").startswith("+"))
    phrases.append(Phrase((phone,), True, personal=True))  # the start of a personal number
    if len(phone) >= MIN_DIGITS:
        phrases.append(Phrase((SUFFIX_MARK + phone[::-1],), True, personal=True))
    return Term(tuple(phrases))


def parse_query(query: str) -> list[Term]:
    """The terms of a staff search query; all must match (AND)."""
    terms: list[Term] = []
    for match in list(_QUERY_PART.finditer(_normalise(query)))[:MAX_QUERY_TERMS]:
        if match.group("number"):
            terms.append(_number_term(match.group("number")))
            continue
        tokens = _tokens(match.group("word"))
        terms.append(Term((Phrase(tuple(tokens), prefix=len(tokens) == 1),)))
    return terms


def _searched(term: Term, personal: bool) -> list[Phrase]:
    return [p for p in term.phrases if personal or not p.personal]


def fts5_query(terms: list[Term], *, personal: bool) -> str:
    """An SQLite FTS5 MATCH expression (tokens never contain quotes).

    Without ``personal``, every phrase is looked for in the public column only.
    """
    parts = []
    for term in terms:
        alternatives = []
        for phrase in _searched(term, personal):
            text = '"' + " ".join(phrase.tokens) + '"' + ("*" if phrase.prefix else "")
            if not personal:
                text = f"{PUBLIC_COLUMN} : {text}"
            elif phrase.personal:
                text = f"{PERSONAL_COLUMN} : {text}"
            alternatives.append(text)
        parts.append("(" + " OR ".join(alternatives) + ")")
    return " AND ".join(parts)


def tsquery(terms: list[Term], *, personal: bool) -> str:
    """A PostgreSQL ``to_tsquery('simple', …)`` expression for the terms.

    Without ``personal``, every lexeme must carry weight A (the public document).
    """
    parts = []
    for term in terms:
        alternatives = []
        for phrase in _searched(term, personal):
            weight = "B" if phrase.personal else ("" if personal else "A")
            quoted = [f"'{t}':{weight}" if weight else f"'{t}'" for t in phrase.tokens]
            if phrase.prefix:
                alternatives.append(f"'{phrase.tokens[0]}':*{weight}")
            else:
                alternatives.append("(" + " <-> ".join(quoted) + ")")
        parts.append("(" + " | ".join(alternatives) + ")")
    return " & ".join(parts)


def audit_query(query: str) -> str:
    """A query as the audit log keeps it: tracking numbers whole, every other term down to
    its first character and every other digit starred (a term may be a name or a phone)."""
    if parse_tracking_no(query).outcome == "valid":
        return query.strip()
    kept = []
    for match in list(_QUERY_PART.finditer(_normalise(query)))[:MAX_QUERY_TERMS]:
        number, word = match.group("number"), match.group("word")
        if number and "xf" in number:
            kept.append("xf" + _NOT_DIGIT.sub("", number))
        elif number:
            kept.append("*" * len(_NOT_DIGIT.sub("", number)))
        else:
            kept.append(word[0] + "*" * (len(word) - 1))
    return " ".join(kept)
