"""常用语: the canned texts staff insert into the console's text fields (config/canned.yaml).

Each text belongs to a group (answer, reject, reply, notice: the ``canned`` group of an
action parameter in bot.staff.actions), has a zh title and text, en where the office
writes one, and may name a few facts of the case as placeholders, filled in when the
case page is shown.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import read_mapping
from bot.domain.tracking import format_tracking_no
from bot.staff.actions import ACTIONS
from bot.storage.cases import CaseRow

GROUPS = tuple(dict.fromkeys(p.canned for spec in ACTIONS for p in spec.params if p.canned))
PLACEHOLDERS = ("tracking_no", "deadline", "answer_due", "submitted", "department")
LANGS = ("zh", "en")
MAX_CANNED = 2000


class CannedError(ValueError):
    """config/canned.yaml is invalid (the message names the entry)."""


@dataclass(frozen=True, slots=True)
class Canned:
    """One canned text: a title and the text per language ("" where none is written)."""

    group: str
    title: Mapping[str, str]
    text: Mapping[str, str]

    def filled(self, lang: str, facts: Mapping[str, str]) -> tuple[str, str]:
        """(title, text) in ``lang`` (zh when none), placeholders filled from ``facts``."""
        title = self.title.get(lang) or self.title["zh"]
        text = self.text.get(lang) or self.text["zh"]
        return title, text.format_map(dict(facts))


@dataclass(frozen=True, slots=True)
class CannedTexts:
    """Every canned text by group, in the order of the file."""

    groups: Mapping[str, tuple[Canned, ...]]

    def for_case(
        self,
        case: CaseRow,
        lang: str,
        tz: ZoneInfo,
        department_name: str,
    ) -> dict[str, list[tuple[str, str]]]:
        """group -> [(title, filled text)] for one case page."""
        facts = case_facts(case, tz, department_name)
        return {g: [c.filled(lang, facts) for c in items] for g, items in self.groups.items()}


def case_facts(case: CaseRow, tz: ZoneInfo, department_name: str) -> dict[str, str]:
    """What the placeholders stand for on this case ("" where the case has no such date)."""

    def day(when: datetime | None) -> str:
        return when.astimezone(tz).strftime("%Y-%m-%d") if when else ""

    return {
        "tracking_no": format_tracking_no(case.tracking_no),
        "deadline": day(case.due_at),
        "answer_due": day(case.answer_due_at),
        "submitted": day(case.submitted_at),
        "department": department_name,
    }


def load_canned(config_dir: Path) -> CannedTexts:
    """config/canned.yaml, checked (no file: no canned texts)."""
    path = config_dir / "canned.yaml"
    if not path.exists():
        return CannedTexts({})
    data = read_mapping(path, "config/canned.yaml", CannedError)
    unknown = sorted(set(data) - set(GROUPS))
    if unknown:
        raise CannedError(
            f"config/canned.yaml: unknown group {unknown[0]!r} (groups: {', '.join(GROUPS)})"
        )
    groups: dict[str, tuple[Canned, ...]] = {}
    for group, entries in data.items():
        if not isinstance(entries, list):
            raise CannedError(f"config/canned.yaml: {group} must be a list")
        groups[group] = tuple(
            _entry(f"config/canned.yaml: {group}[{i}]", group, e) for i, e in enumerate(entries)
        )
    return CannedTexts(groups)


def _entry(where: str, group: str, raw: Any) -> Canned:
    if not isinstance(raw, Mapping) or set(raw) - {"title", "text"}:
        raise CannedError(f"{where}: a mapping of title and text")
    title, text = (
        _langs(f"{where}.title", raw.get("title")),
        _langs(f"{where}.text", raw.get("text")),
    )
    for lang, value in text.items():
        if len(value) > MAX_CANNED:
            raise CannedError(f"{where}.text.{lang}: longer than {MAX_CANNED} characters")
        for _, name, spec, conversion in string.Formatter().parse(value):
            if name is not None and (name not in PLACEHOLDERS or spec or conversion):
                raise CannedError(
                    f"{where}.text.{lang}: unknown placeholder {{{name}}} "
                    f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})"
                )
    return Canned(group, title, text)


def _langs(where: str, raw: Any) -> dict[str, str]:
    if isinstance(raw, str):
        raw = {"zh": raw}
    if not isinstance(raw, Mapping) or not str(raw.get("zh") or "").strip():
        raise CannedError(f"{where}: needs a zh text")
    unknown = sorted(set(raw) - set(LANGS))
    if unknown:
        raise CannedError(f"{where}: unknown language {unknown[0]!r}")
    return {k: str(v).strip() for k, v in raw.items() if str(v or "").strip()}
