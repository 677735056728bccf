"""Who sees a petitioner's personal data: one decision for every console page, API route,
export and command.

Personal data is the petitioner's name, phone, address and representatives (the form's
``pii: true`` fields, :data:`bot.domain.search.PERSONAL_ANSWERS`), and whatever the
citizen wrote in their own words (the petition's free texts, rating comments, the reasons
of a 复查 request or a withdrawal, file names), which may repeat any of them. A role reads
it only with the ``case.pii`` permission (:mod:`bot.staff.access`). Without it, every
route shows:

* personal fields masked (张** · 139****5678), never searched (a result must not depend on
  what is masked, or search becomes an oracle);
* free texts (the citizen's own words, and staff's replies, notes and opinions, which may
  name the petitioner) with the case's own personal values and every mobile or ID-card
  number hidden;
* attachments listed (kind, size, masked name), never downloaded: they are ID photos and
  signed documents;
* exports masked the same way (a role needs ``export`` as well to export at all);
* outgoing message texts withheld: they carry the signed link to the citizen's own case
  page (``/my/cases/…?k=``), which opens that citizen's data to whoever holds it;
* audit entries with the numbers in their details hidden.

Pages and the API ask a :class:`PiiPolicy`; none decides for itself.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol, TypeVar

from bot.domain.search import PERSONAL_ANSWERS, PHONE_ANSWERS
from bot.logging import mask_phone, mask_text
from bot.staff.access import AccessDenied, Permission, StaffMember
from bot.storage.cases import CaseRow

_DIGITS = re.compile(r"\D+")
_MIN_VALUE = 2  # a one-character "name" would blank every sentence it occurs in


class _Named(Protocol):
    @property
    def filename(self) -> str: ...


class _Written(Protocol):
    @property
    def text(self) -> str: ...


_F = TypeVar("_F", bound=_Named)
_O = TypeVar("_O", bound=_Written)


def mask_name(name: str) -> str:
    """张三丰 → 张**."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def _answer_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _answer_values(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _answer_values(v)]
    return []


@dataclass(frozen=True, slots=True)
class Redactor:
    """Hides one case's personal values, and any mobile or ID-card number, in free text."""

    values: tuple[str, ...]  # longest first, so a name inside an address goes with it
    digits: tuple[str, ...]  # the phone as bare digits, found however it is spaced

    @classmethod
    def of(cls, case: CaseRow) -> Redactor:
        """The redactor of a case, from its unmasked personal fields."""
        found = {case.name, case.phone}
        for key in PERSONAL_ANSWERS:
            found.update(_answer_values(case.answers.get(key)))
        values = sorted({v.strip() for v in found if len(v.strip()) >= _MIN_VALUE}, key=len)
        digits = {_DIGITS.sub("", v) for v in (case.phone, str(case.answers.get("phone") or ""))}
        return cls(tuple(reversed(values)), tuple(d for d in digits if len(d) >= 7))

    def __call__(self, text: str) -> str:
        """The text with the case's personal values starred and numbers masked."""
        if not text:
            return text
        for value in self.values:
            text = text.replace(value, "*" * len(value))
        for digits in self.digits:
            spaced = r"[\s-]?".join(re.escape(d) for d in digits)
            text = re.sub(spaced, "*" * len(digits), text)
        return mask_text(text)


@dataclass(frozen=True, slots=True)
class PiiPolicy:
    """What one staff member may see of petitioners' personal data (module docstring)."""

    personal: bool  # the role has case.pii

    @classmethod
    def of(cls, member: StaffMember) -> PiiPolicy:
        """The policy of a staff member's role."""
        return cls(member.can(Permission.CASE_PII))

    # --- decisions ------------------------------------------------------------------

    @property
    def searches_personal(self) -> bool:
        """Whether a search also reads names, phones, addresses and their numbers."""
        return self.personal

    @property
    def downloads_attachments(self) -> bool:
        """Whether attachments can be opened (else they are listed only)."""
        return self.personal

    @property
    def reads_message_texts(self) -> bool:
        """Whether outgoing message texts (with their signed case-page links) are shown."""
        return self.personal

    def require_download(self) -> None:
        """Raise AccessDenied (403) unless attachments may be opened."""
        if not self.downloads_attachments:
            raise AccessDenied("attachments need personal-data access", Permission.CASE_PII)

    # --- what is shown --------------------------------------------------------------

    def case(self, case: CaseRow) -> CaseRow:
        """The case as shown: personal fields masked, citizen-written texts redacted."""
        if self.personal:
            return case
        redact = Redactor.of(case)
        answers = dict(case.answers)
        for key, value in answers.items():
            if not value:
                continue
            if key in PERSONAL_ANSWERS:
                answers[key] = _mask_personal(key, value)
            else:
                answers[key] = _redact_value(redact, value)
        return dataclasses.replace(
            case,
            name=mask_name(case.name),
            phone=mask_phone(case.phone),
            answers=answers,
            rating_comment=redact(case.rating_comment),
            answer_text=redact(case.answer_text),
            transferred_to=redact(case.transferred_to),
        )

    def cases(self, rows: Iterable[CaseRow]) -> list[CaseRow]:
        """Cases as shown (lists, dashboards, exports)."""
        return [self.case(c) for c in rows]

    def events(self, case: CaseRow, events: Iterable[Any]) -> list[Any]:
        """A timeline as shown: what the citizen wrote (a rating comment, a 复查 reason)
        and what staff wrote (a reply naming the petitioner) redacted like the answers.
        ``case`` is the unmasked case, whose personal values are looked for."""
        if self.personal:
            return list(events)
        redact = Redactor.of(case)
        return [_redact_event(redact, e) for e in events]

    def opinions(self, case: CaseRow, opinions: Iterable[_O]) -> list[_O]:
        """Written opinions as shown: the petitioner's own values hidden in their text."""
        if self.personal:
            return list(opinions)
        redact = Redactor.of(case)
        return [dataclasses.replace(o, text=redact(o.text)) for o in opinions]  # type: ignore[type-var]

    def attachments(self, case: CaseRow, files: Iterable[_F]) -> list[_F]:
        """Attachments as listed: the case's personal values and numbers hidden in names."""
        if self.personal:
            return list(files)
        redact = Redactor.of(case)
        return [dataclasses.replace(f, filename=redact(f.filename)) for f in files]  # type: ignore[type-var]

    def citizen_words(self, text: str) -> str:
        """What a citizen wrote in a conversation (not tied to one case): mobile and
        ID-card numbers hidden without case.pii."""
        return text if self.personal else mask_text(text)

    def message_text(self, text: str) -> str | None:
        """An outgoing message's text, or None when it may not be read."""
        return text if self.reads_message_texts else None

    def audit_detail(self, detail: dict[str, Any] | None) -> dict[str, Any] | None:
        """An audit entry's detail as shown (numbers in it hidden without case.pii)."""
        if self.personal or not detail:
            return detail
        return {k: _redact_value(mask_text, v) for k, v in detail.items()}


def _mask_personal(key: str, value: Any) -> Any:
    if isinstance(value, str):
        return mask_phone(value) if key in PHONE_ANSWERS else mask_name(value)
    if isinstance(value, list | tuple):
        return [_mask_personal(key, v) for v in value]
    if isinstance(value, Mapping):
        return {k: _mask_personal(key, v) for k, v in value.items()}
    return value


def _redact_value(redact: Any, value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redact_value(redact, v) for v in value]
    if isinstance(value, Mapping):
        return {k: _redact_value(redact, v) for k, v in value.items()}
    return value


def _redact_event(redact: Redactor, event: Any) -> Any:
    values = dict(event._mapping)
    values["message"] = redact(event.message or "")
    values["note"] = redact(event.note or "")
    if isinstance(event.data, dict):
        values["data"] = _redact_value(redact, event.data)
    return SimpleNamespace(**values)
