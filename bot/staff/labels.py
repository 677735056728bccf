"""Human names of the codes stored on cases, in Chinese and English, for staff screens and exports.

Statuses come from the bot texts (``status.*``), categories and regions from
config/categories.yaml and regions.yaml (through the form loader), appeal types from the
intake form, departments from config/departments.yaml. Unknown codes show as themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.cases.flags import (
    FIRST_PETITION,
    GROUP_PETITION,
    HIGHER_ASSIGNED,
    LITIGATION,
    MAJOR,
    REPEAT_PETITION,
    REPEATED_LATER,
    URGENT,
)
from bot.cases.routing import load_routing
from bot.channels import registry
from bot.dialogs.form import load_forms
from bot.dialogs.texts import load_texts
from bot.domain.arrival import ARRIVAL_CHANNELS
from bot.domain.statuses import STATUS_CODES

Names = Mapping[str, tuple[str, str]]  # code -> (zh, en)

FLAGS: dict[str, tuple[str, str]] = {
    FIRST_PETITION: ("初信初访", "First petition"),
    REPEAT_PETITION: ("重复访", "Repeat petition"),
    GROUP_PETITION: ("集体访", "Group petition"),
    LITIGATION: ("涉法涉诉", "Litigation-related"),
    URGENT: ("紧急", "Urgent"),
    MAJOR: ("重大疑难", "Major or difficult"),
    HIGHER_ASSIGNED: ("上级交办", "Assigned by a higher level"),
    REPEATED_LATER: ("已重复访", "Petitioned again later"),
}
# The channels a petition arrives by (cases.channel): the registered chat channels, and
# 信、访、电 registered by staff
CHANNELS: dict[str, tuple[str, str]] = {
    **{spec.name: spec.labels for spec in registry.CHANNELS},
    **dict(
        zip(
            ARRIVAL_CHANNELS,
            (("来信", "Letter"), ("来访", "Visit"), ("来电", "Phone call")),
            strict=True,
        )
    ),
}
# Notice channels that are no way of arriving, named on delivery lists
NOTICE_CHANNELS: dict[str, tuple[str, str]] = {
    "sms": ("短信", "SMS"),
    "paper": ("书面", "On paper"),
}
RATINGS: dict[str, tuple[str, str]] = {
    "satisfied": ("满意", "Satisfied"),
    "basically_satisfied": ("基本满意", "Basically satisfied"),
    "dissatisfied": ("不满意", "Dissatisfied"),
}


def _pick(names: Names, code: str, lang: str) -> str:
    pair = names.get(code)
    if pair is None:
        return code
    return pair[1] if lang == "en" else pair[0]


@dataclass(frozen=True)
class Labels:
    """Code → name tables; ``lang`` is "zh" (default) or "en"."""

    statuses: Names = field(default_factory=dict)
    categories: Names = field(default_factory=dict)
    regions: Names = field(default_factory=dict)
    departments: Names = field(default_factory=dict)
    appeal_types: Names = field(default_factory=dict)
    flags: Names = field(default_factory=lambda: dict(FLAGS))
    channels: Names = field(default_factory=lambda: {**CHANNELS, **NOTICE_CHANNELS})
    ratings: Names = field(default_factory=lambda: dict(RATINGS))

    def status(self, code: str, lang: str = "zh") -> str:
        """A status name (已受理 / Accepted)."""
        return _pick(self.statuses, code, lang)

    def category(self, code: str, lang: str = "zh") -> str:
        """A subject (问题类别) name."""
        return _pick(self.categories, code, lang)

    def region(self, code: str, lang: str = "zh") -> str:
        """A region (事发地) name."""
        return _pick(self.regions, code, lang)

    def department(self, code: str, lang: str = "zh") -> str:
        """A department name."""
        return _pick(self.departments, code, lang)

    def appeal_type(self, code: str, lang: str = "zh") -> str:
        """An appeal type (诉求类型) name."""
        return _pick(self.appeal_types, code, lang)

    def flag(self, code: str, lang: str = "zh") -> str:
        """A staff flag name (初信初访, 紧急, …)."""
        return _pick(self.flags, code, lang)

    def channel(self, code: str, lang: str = "zh") -> str:
        """A channel name."""
        return _pick(self.channels, code, lang)

    def rating(self, code: str, lang: str = "zh") -> str:
        """A satisfaction rating name."""
        return _pick(self.ratings, code, lang)


def load_labels(config_dir: Path) -> Labels:
    """Every table from the config directory, through the loaders that validate it."""
    texts = load_texts(config_dir)
    forms = load_forms(config_dir)
    routing = load_routing(config_dir)
    statuses = {
        code: (texts.get("zh", f"status.{code}"), texts.get("en", f"status.{code}"))
        for code in STATUS_CODES
    }
    appeal: dict[str, tuple[str, str]] = {}
    for form in forms.forms.values():
        spec = form.field("appeal_type")
        if spec is not None:
            for choice in spec.choices:
                appeal.setdefault(choice.value, (choice.label.zh, choice.label.en))
    return Labels(
        statuses=statuses,
        categories={c.value: (c.label.zh, c.label.en) for c in forms.categories},
        regions={r.value: (r.label.zh, r.label.en) for r in forms.regions},
        departments={d.code: (d.name_zh, d.name_en) for d in routing.departments.values()},
        appeal_types=appeal,
    )
