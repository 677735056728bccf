"""The words and cues of config/understanding.yaml, loaded once and folded for matching."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import read_mapping
from bot.dialogs.validators import normalize_token

SOCIAL_KINDS = ("greeting", "thanks", "filler", "back")
RATINGS = ("dissatisfied", "basically_satisfied", "satisfied")  # the first that matches wins
APPEAL_TYPES = ("accusation", "suggestion", "consultation", "claim")  # first clear cue wins
CUE_KINDS = (
    "name",
    "after_name",
    "address",
    "after_address",
    "phone",
    "other_person",
    "other_subject",
    "request",
    "not_request",
    "matter",
    "place",
    "resume",
)


class VocabularyError(ValueError):
    """config/understanding.yaml is invalid; the message says where."""


def fold(text: str) -> str:
    """NFKC and case folding: what every cue is matched against."""
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class Vocabulary:
    """What citizens say, by meaning; every word already folded."""

    social: Mapping[str, frozenset[str]] = field(default_factory=dict)
    help: frozenset[str] = frozenset()
    human: frozenset[str] = frozenset()
    feedback: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # rating -> words
    opt_out: frozenset[str] = frozenset()
    agree: frozenset[str] = frozenset()  # takes an offer shown with a yes and a no option
    decline: frozenset[str] = frozenset()  # declines it
    story_min_chars: int = 12
    cues: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # longest first
    appeal_type: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    category_words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    surnames: frozenset[str] = frozenset()
    compound_surnames: tuple[str, ...] = ()
    not_name_endings: tuple[str, ...] = ()
    reason_lead: tuple[str, ...] = ()  # "理由是", "因为": before a 复查 reason; longest first

    @functools.cached_property
    def their_number(self) -> re.Pattern[str]:
        """A third party named right before a number: the number is theirs ("老板叫刘建军，
        电话…", "他自己的手机…", "my boss's number"); matched against the text before it."""
        words = "|".join(
            re.escape(w) for w in (*self.cue("other_person"), *self.cue("other_subject"))
        )
        return re.compile(
            rf"(?<![a-z])(?:{words})(?![a-z])(?:'s)?(?:叫)?[\u3400-\u9fff]{{0,4}}?(?:自己)?"
            r"[，,\s（(]*(?:的)?\s*(?:电话|手机|号码|联系方式|phone|number|mobile)?"
            r"\s*(?:是|为|:|：)?\s*$"
        )

    def cue(self, kind: str) -> tuple[str, ...]:
        """The cue words of ``kind`` (see CUE_KINDS), longest first."""
        return self.cues.get(kind, ())


def _words(where: str, raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(w, str | int) for w in raw):
        raise VocabularyError(f"{where} must be a list of words")
    words = {fold(str(w)).strip() for w in raw if str(w).strip()}
    return tuple(sorted(words, key=lambda w: (-len(w), w)))


def _tokens(where: str, raw: object) -> frozenset[str]:
    return frozenset(normalize_token(w) for w in _words(where, raw))


def _groups(where: str, raw: object, known: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping):
        raise VocabularyError(f"{where} must be a mapping")
    unknown = set(raw) - set(known)
    if unknown:
        raise VocabularyError(f"{where}: unknown keys {sorted(map(str, unknown))}")
    return {str(k): _words(f"{where}.{k}", v) for k, v in raw.items()}


def parse_vocabulary(data: Mapping[str, Any], categories: tuple[str, ...]) -> Vocabulary:
    """Validate the understanding document; ``categories`` are the configured codes."""
    where = "config/understanding.yaml"
    social = _groups(f"{where}: social", data.get("social", {}), SOCIAL_KINDS)
    surnames = str(data.get("surnames") or "").replace(" ", "")
    min_chars = data.get("story_min_chars", 12)
    if not isinstance(min_chars, int) or min_chars < 1:
        raise VocabularyError(f"{where}: story_min_chars must be a positive integer")
    return Vocabulary(
        social={k: frozenset(normalize_token(w) for w in v) for k, v in social.items()},
        help=_tokens(f"{where}: help", data.get("help", [])),
        human=_tokens(f"{where}: human", data.get("human", [])),
        feedback=_groups(f"{where}: feedback", data.get("feedback", {}), RATINGS),
        opt_out=_tokens(f"{where}: opt_out", data.get("opt_out", [])),
        agree=_tokens(f"{where}: agree", data.get("agree", [])),
        decline=_tokens(f"{where}: decline", data.get("decline", [])),
        story_min_chars=min_chars,
        cues=_groups(f"{where}: cues", data.get("cues", {}), CUE_KINDS),
        appeal_type=_groups(f"{where}: appeal_type", data.get("appeal_type", {}), APPEAL_TYPES),
        category_words=_groups(
            f"{where}: category_words", data.get("category_words", {}), categories
        ),
        surnames=frozenset(surnames),
        compound_surnames=_words(f"{where}: compound_surnames", data.get("compound_surnames", [])),
        not_name_endings=_words(f"{where}: not_name_endings", data.get("not_name_endings", [])),
        reason_lead=_words(f"{where}: reason_lead", data.get("reason_lead", [])),
    )


def load_vocabulary(config_dir: Path, categories: tuple[str, ...]) -> Vocabulary:
    """Load config/understanding.yaml (an empty vocabulary when the file is absent)."""
    path = config_dir / "understanding.yaml"
    if not path.exists():
        return Vocabulary()
    return parse_vocabulary(
        read_mapping(path, "config/understanding.yaml", VocabularyError), categories
    )
