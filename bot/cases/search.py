"""Full-text search over Chinese petitions: CJK bigrams and words, the same on both databases.

Chinese has no spaces, so a case's searchable text is stored as a *search document*:
every run of CJK characters becomes its overlapping bigrams ("拆迁补偿" → "拆迁 迁补 补偿")
and every other word is lower-cased, NFKC-normalised (full-width → half-width). SQLite
indexes the document with FTS5 (migration 0003), PostgreSQL with a GIN index on
``to_tsvector('simple', search_doc)``; a query term of two or more CJK characters is a
phrase of its bigrams, so "补偿款" matches exactly the documents containing "补偿款".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
MAX_QUERY_TERMS = 8


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


@dataclass(frozen=True, slots=True)
class Term:
    """One term of a query: consecutive tokens that must appear in order, or a prefix."""

    tokens: tuple[str, ...]
    prefix: bool  # a single token matched as a prefix (a latin word, a lone CJK character)


def parse_query(query: str) -> list[Term]:
    """The terms of a staff search query; all must match (AND)."""
    terms: list[Term] = []
    for run in _TOKEN.findall(_normalise(query))[:MAX_QUERY_TERMS]:
        tokens = _tokens(run)
        terms.append(Term(tuple(tokens), prefix=len(tokens) == 1))
    return terms


def fts5_query(terms: list[Term]) -> str:
    """An SQLite FTS5 MATCH expression for the terms (tokens never contain quotes)."""
    parts = []
    for term in terms:
        phrase = '"' + " ".join(term.tokens) + '"'
        parts.append(phrase + "*" if term.prefix else phrase)
    return " AND ".join(parts)


def tsquery(terms: list[Term]) -> str:
    """A PostgreSQL ``to_tsquery('simple', …)`` expression for the terms."""
    parts = []
    for term in terms:
        quoted = [f"'{t}'" for t in term.tokens]
        parts.append(quoted[0] + ":*" if term.prefix else " <-> ".join(quoted))
    return " & ".join(parts)


SEARCHED_ANSWERS = (
    "name",
    "request",
    "facts",
    "respondent",
    "address",
    "incident_place",
    "representatives",
)


def case_search_doc(answers: dict[str, object], tracking_no: str = "") -> str:
    """The search document of a case from its answers (free-text fields only)."""
    texts = [str(answers.get(k) or "") for k in SEARCHED_ANSWERS]
    return search_doc([tracking_no, *texts])
