"""Text similarity of Chinese petitions: duplicate suggestions (跨渠道重复) and 重复访 detection.

Character n-grams need no word segmenter and survive rewording: two people describing the
same unpaid wages or the same noisy building site share names, places and key terms
("拖欠工资", "工地", "小区名") even when the sentences differ. Texts are normalised
(NFKC: full-width to half-width; lower case; punctuation, whitespace and emoji dropped),
then compared by the cosine of their character bigram and trigram counts (trigrams keep
names like "宏达劳务" apart from the shared vocabulary of a subject); very short texts also
use single characters. Bigrams common to almost every petition ("要求", "反映", "问题") carry no
signal about the matter and are ignored.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# Tuned on tests/cases/fixtures/petitions.yaml: the weakest true pair scores about 0.15, the
# closest unrelated pair (two wage claims in one district) about 0.11.
DUPLICATE_THRESHOLD = 0.13
REPEAT_THRESHOLD = 0.13
SHORT_TEXT_CHARS = 8  # below this many characters, unigrams count too

# Petition boilerplate: bigrams that appear in most petitions whatever the matter.
_BOILERPLATE = (
    "要求请求希望反映问题解决相关部门有关我们我的你们"
    "他们没有一直至今现在已经情况处理帮助政府领导谢谢"
    "多次给予依法尽快能够进行这个那个因为所以但是可是"
    "还是就是什么怎么一个不是可以需要时候去年今年目前"
    "本人"
)
_STOP_BIGRAMS = frozenset(_BOILERPLATE[i : i + 2] for i in range(0, len(_BOILERPLATE), 2))


@dataclass(frozen=True)
class PetitionText:
    """What duplicate and repeat detection needs of a case; ``text`` is request + facts."""

    case_id: int
    contact_id: int
    phone: str
    region: str
    category: str
    text: str


def normalise(text: str) -> str:
    """NFKC, lower case, and only letters and digits (no punctuation, spaces or emoji)."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


def _features(norm: str) -> Counter[str]:
    grams: Counter[str] = Counter(
        norm[i : i + 2] for i in range(len(norm) - 1) if norm[i : i + 2] not in _STOP_BIGRAMS
    )
    grams.update(norm[i : i + 3] for i in range(len(norm) - 2))
    if len(norm) < SHORT_TEXT_CHARS:
        grams.update(norm)
    return grams


@functools.lru_cache(maxsize=8192)
def _vector(text: str) -> tuple[str, Counter[str], float]:
    """A text's normal form, features and their length; cached, because every
    registration compares the new petition with the same pool of recent ones (never
    mutate the returned Counter)."""
    norm = normalise(text)
    features = _features(norm) if norm else Counter()
    return norm, features, math.sqrt(sum(c * c for c in features.values()))


def similarity(a: str, b: str) -> float:
    """How alike two texts are, from 0 (nothing shared) to 1 (the same after normalising)."""
    if a == b:
        return 1.0
    (na, fa, la), (nb, fb, lb) = sorted((_vector(a), _vector(b)), key=lambda v: v[0])
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    if not fa or not fb:
        return 0.0
    dot = sum(count * fb[gram] for gram, count in sorted(fa.items()) if gram in fb)
    if not dot:
        return 0.0
    return max(0.0, min(1.0, dot / (la * lb)))


def suggest_duplicates(
    new: PetitionText,
    candidates: Iterable[PetitionText],
    *,
    threshold: float = DUPLICATE_THRESHOLD,
    limit: int = 5,
) -> list[tuple[int, float]]:
    """Other cases with the same region and category and a similar text, best first."""
    scored = [
        (other.case_id, similarity(new.text, other.text))
        for other in candidates
        if other.case_id != new.case_id
        and other.region == new.region
        and other.category == new.category
    ]
    hits = [(case_id, score) for case_id, score in scored if score >= threshold]
    hits.sort(key=lambda hit: (-hit[1], hit[0]))
    return hits[: max(limit, 0)]


def same_citizen(a: PetitionText, b: PetitionText) -> bool:
    """Same contact (platform id), or the same non-empty phone number."""
    if a.contact_id == b.contact_id:
        return True
    pa, pb = _phone(a.phone), _phone(b.phone)
    return bool(pa) and pa == pb


def is_repeat(
    new: PetitionText, earlier: Iterable[PetitionText], *, threshold: float = REPEAT_THRESHOLD
) -> bool:
    """重复访: the same citizen reported a similar matter before."""
    return any(
        other.case_id != new.case_id
        and same_citizen(new, other)
        and similarity(new.text, other.text) >= threshold
        for other in earlier
    )


def _phone(phone: str) -> str:
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", phone) if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits
