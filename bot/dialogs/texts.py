"""Bot texts in Chinese and English, loaded from config/texts/{zh,en}.yaml.

The YAML files are nested mappings; keys are joined with dots (``status.submitted``).
Both languages must define exactly the same keys with the same ``{placeholders}``, and
every key the engine uses (:data:`REQUIRED_KEYS`) must be present.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import read_mapping
from bot.dialogs.form import FormError
from bot.domain.statuses import STATUS_CODES

LANGS = ("zh", "en")
REQUIRED_KEYS = frozenset(
    {
        "greeting",
        "menu.prompt",
        "menu.new",
        "menu.status",
        "menu.my_cases",
        "menu.help",
        "menu.unknown",
        "help.idle",
        "help.commands",
        "help.field",
        "ask.question",
        "ask.current",
        "choice.skip",
        "choice.done",
        "draft.started",
        "draft.preselected",
        "draft.in_progress",
        "draft.cancelled",
        "draft.nothing_to_cancel",
        "draft.expired",
        "draft.welcome_back",
        "draft.welcome_back_confirm",
        "draft.form_changed",
        "draft.back_first",
        "draft.state_lost",
        "input.empty",
        "input.too_long",
        "input.voice_recognised",
        "input.voice_heard",
        "facts.received",
        "facts.total_too_long",
        "attachments.received",
        "attachments.caption_kept",
        "attachments.location_received",
        "attachments.idle",
        "attachments.voice_idle",
        "attachments.too_many",
        "invalid.choice",
        "invalid.phone",
        "invalid.phone_chars",
        "invalid.integer",
        "invalid.integer_range",
        "invalid.names_empty",
        "invalid.names_too_many",
        "invalid.name_too_long",
        "invalid.too_short",
        "invalid.required",
        "invalid.too_long",
        "invalid.longtext_empty",
        "invalid.tracking_mistyped",
        "invalid.tracking_format",
        "invalid.attachments_text",
        "invalid.location",
        "edit.pick",
        "edit.unknown",
        "edit.nothing",
        "summary.header",
        "summary.line",
        "summary.long",
        "summary.line_scene",
        "summary.skipped",
        "summary.attachments",
        "summary.location",
        "summary.names_sep",
        "confirm.prompt",
        "confirm.submit",
        "confirm.edit",
        "confirm.cancel",
        "confirm.invalid",
        "submit.done",
        "consent.hint",
        "submit.failed",
        "lookup.ask_number",
        "lookup.mistyped",
        "lookup.not_found",
        "lookup.foreign",
        "lookup.verify_cancelled",
        "lookup.verify_failed",
        "lookup.unverifiable",
        "lookup.throttled",
        "lookup.header",
        "lookup.status",
        "lookup.submitted_at",
        "lookup.updated_at",
        "lookup.category",
        "lookup.summary",
        "lookup.last_event",
        "lookup.due_date",
        "lookup.verified_note",
        "lookup.unavailable",
        "cases.none",
        "cases.header",
        "cases.line",
        "cases.footer",
        "lang.switched",
        "lang.choose",
        "command.unknown",
        "error.internal",
        "broadcasts.unsubscribed",
        "broadcasts.subscribed",
        *(f"status.{code}" for code in STATUS_CODES),
    }
)


def _flatten(prefix: str, data: Mapping[Any, Any], out: dict[str, str], where: str) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(f"{name}.", value, out, where)
        elif isinstance(value, str):
            out[name] = value.rstrip("\n")
        else:
            raise FormError(f"{where}: key {name!r} must be a string or a mapping")


def _placeholders(where: str, key: str, text: str) -> frozenset[str]:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise FormError(f"{where}: key {key!r}: bad placeholder syntax: {exc}") from exc
    bad = [n for n in names if not n.isidentifier()]
    if bad:
        raise FormError(f"{where}: key {key!r}: placeholders must be plain names, got {bad}")
    return frozenset(names)


@dataclass(frozen=True)
class Texts:
    """Every bot text by language and dotted key."""

    by_lang: Mapping[str, Mapping[str, str]]

    def get(self, lang: str, key: str, **kwargs: object) -> str:
        """The text for ``key`` in ``lang`` (Chinese when unknown), formatted with kwargs."""
        table = self.by_lang.get(lang) or self.by_lang["zh"]
        return table[key].format(**kwargs)

    def has(self, key: str) -> bool:
        """True when ``key`` is defined (in every language)."""
        return key in self.by_lang["zh"]


def load_texts(config_dir: Path) -> Texts:
    """Load config/texts/zh.yaml and en.yaml; both must have the same keys and placeholders."""
    tables: dict[str, dict[str, str]] = {}
    params: dict[str, dict[str, frozenset[str]]] = {}
    for lang in LANGS:
        where = f"config/texts/{lang}.yaml"
        path = config_dir / "texts" / f"{lang}.yaml"
        data = read_mapping(path, where, FormError)
        flat: dict[str, str] = {}
        _flatten("", data, flat, where)
        for key, text in flat.items():
            if not text.strip():
                raise FormError(f"{where}: key {key!r} is empty")
        tables[lang] = flat
        params[lang] = {k: _placeholders(where, k, v) for k, v in flat.items()}
        missing = sorted(REQUIRED_KEYS - flat.keys())
        if missing:
            raise FormError(f"{where}: missing keys {missing}")
    zh, en = tables["zh"], tables["en"]
    only_zh = sorted(zh.keys() - en.keys())
    if only_zh:
        raise FormError(f"config/texts/en.yaml: missing keys {only_zh} (present in zh.yaml)")
    only_en = sorted(en.keys() - zh.keys())
    if only_en:
        raise FormError(f"config/texts/zh.yaml: missing keys {only_en} (present in en.yaml)")
    for key in sorted(zh):
        if params["zh"][key] != params["en"][key]:
            raise FormError(
                f"config/texts/en.yaml: key {key!r}: placeholders"
                f" {sorted(params['en'][key])} differ from zh.yaml {sorted(params['zh'][key])}"
            )
    return Texts(by_lang=tables)
