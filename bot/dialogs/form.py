"""The petition form as data: load and validate config/forms/*.yaml, categories and regions.

Schema of a form file (every human text is a mapping with ``zh`` and ``en``)::

    id: intake
    version: 1
    title: {zh: ..., en: ...}
    fields:
      - name: appeal_type            # unique, [a-z_][a-z0-9_]*
        kind: choice                 # see KINDS
        label: {zh: ..., en: ...}    # used in the read-back summary
        prompt: {zh: ..., en: ...}   # the question
        help: {zh: ..., en: ...}     # answer to "帮助/help" at this step
        optional: false              # optional fields accept "跳过/skip"
        min_len: 1                   # text kinds
        max_len: 200
        min: 1                       # integer kind
        max: 100000
        max_items: 5                 # names and phones kinds
        source: regions              # choice kind: take choices from regions/categories
        choices:                     # choice kind, unless ``source`` is given
          - value: suggestion
            label: {zh: ..., en: ...}
            aliases: [建议]
            note: {zh: ..., en: ...} # told to the citizen when this choice is picked
        when: {field: appeal_type, in: [suggestion, accusation]}
        role: name                   # what the field is to the rest of the system (ROLES)
        pii: true                    # personal data: masked for roles without access
        group: contact               # asked together with the other fields of the group
        ask: false                   # not a question of its own (attachments: sent any time)
        aliases: [名字, name]          # words naming the field besides its label ("名字写错了")
    groups:                          # one question for several fields, when none is answered
      contact: {prompt: {zh: ..., en: ...}}

Conditions are structured data, never evaluated code: ``{field: f, eq|ne: v}``,
``{field: f, in|not_in: [..]}``, ``{field: f, gte|gt|lte|lt: n}``,
``{field: f, answered: true}``, ``{all: [..]}``, ``{any: [..]}``, ``{not: cond}``.
A condition may only refer to fields placed before the field it guards.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import read_mapping
from bot.dialogs.extract import Gazetteer
from bot.dialogs.kinds import KINDS
from bot.dialogs.validators import normalize_token

# What a field is to the code outside the form (story filling, registration): each role
# at most once per form. ``check-config`` refuses a form without REQUIRED_ROLES.
ROLES = frozenset(
    {
        "appeal_type",
        "anonymous",
        "name",
        "phone",
        "address",
        "region",
        "incident_place",
        "category",
        "respondent",
        "request",
        "facts",
        "people_count",
        "representatives",
        "representative_phones",
        "legal_status",
        "reported_before",
        "earlier_tracking_no",
        "attachments",
    }
)
REQUIRED_ROLES = frozenset({"appeal_type", "name", "phone", "region", "category", "request"})
LANGS = ("zh", "en")
SOURCES = ("regions", "categories")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_COMPARE_OPS = ("eq", "ne", "in", "not_in", "gte", "gt", "lte", "lt", "answered")
_NUMERIC_OPS = ("gte", "gt", "lte", "lt")
_FIELD_KEYS = frozenset(
    {
        "name",
        "kind",
        "label",
        "prompt",
        "help",
        "optional",
        "min_len",
        "max_len",
        "min",
        "max",
        "max_items",
        "source",
        "choices",
        "when",
        "role",
        "pii",
        "searchable",
        "group",
        "ask",
        "aliases",
    }
)


class FormError(ValueError):
    """A configuration file is invalid; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class I18n:
    """A human text in every supported language."""

    zh: str
    en: str

    def get(self, lang: str) -> str:
        """The text in ``lang``, Chinese for anything else."""
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True, slots=True)
class ChoiceDef:
    """One selectable answer: a stable value, labels, aliases and an optional note."""

    value: str
    label: I18n
    aliases: tuple[str, ...] = ()
    note: I18n | None = None

    def tokens(self) -> frozenset[str]:
        """Every normalised spelling that selects this choice."""
        return _tokens(self)

    def compact_tokens(self) -> frozenset[str]:
        """The same spellings without spaces."""
        return _compact_tokens(self)


@functools.cache
def _tokens(choice: ChoiceDef) -> frozenset[str]:
    # matched against every message at a choice question: computed once per choice
    words = (choice.value, choice.label.zh, choice.label.en, *choice.aliases)
    return frozenset(normalize_token(w) for w in words if w)


@functools.cache
def _compact_tokens(choice: ChoiceDef) -> frozenset[str]:
    return frozenset(t.replace(" ", "") for t in _tokens(choice))


@dataclass(frozen=True, slots=True)
class Condition:
    """A structured condition on earlier answers (no code is ever evaluated)."""

    op: str
    field: str = ""
    values: tuple[Any, ...] = ()
    children: tuple[Condition, ...] = ()

    def holds(self, answers: Mapping[str, Any]) -> bool:
        """True when the condition is met by ``answers``; missing answers never match."""
        if self.op == "all":
            return all(c.holds(answers) for c in self.children)
        if self.op == "any":
            return any(c.holds(answers) for c in self.children)
        if self.op == "not":
            return not self.children[0].holds(answers)
        value = answers.get(self.field)
        if self.op == "answered":
            return (value is not None) == bool(self.values[0])
        if value is None:
            return False
        if self.op == "eq":
            return bool(value == self.values[0])
        if self.op == "ne":
            return bool(value != self.values[0])
        if self.op == "in":
            return value in self.values
        if self.op == "not_in":
            return value not in self.values
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        bound = self.values[0]
        if self.op == "gte":
            return bool(value >= bound)
        if self.op == "gt":
            return bool(value > bound)
        if self.op == "lte":
            return bool(value <= bound)
        return bool(value < bound)

    def fields(self) -> Iterable[str]:
        """Names of every field the condition reads."""
        if self.field:
            yield self.field
        for child in self.children:
            yield from child.fields()


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One question of the form."""

    name: str
    kind: str
    label: I18n
    prompt: I18n
    help: I18n
    optional: bool = False
    choices: tuple[ChoiceDef, ...] = ()
    when: Condition | None = None
    min_len: int = 1
    max_len: int = 200
    min_value: int = 1
    max_value: int = 100_000
    max_items: int = 5
    source: str = ""
    role: str = ""
    pii: bool = False
    searchable: bool = False
    group: str = ""
    ask: bool = True  # False: never asked on its own (attachments come at any step)
    aliases: tuple[str, ...] = ()  # other words citizens use for it ("名字", "手机号码")

    def applies(self, answers: Mapping[str, Any]) -> bool:
        """True when this field is asked given the earlier ``answers``."""
        return self.when is None or self.when.holds(answers)

    def choice(self, value: object) -> ChoiceDef | None:
        """The choice with this stored value, if any."""
        for c in self.choices:
            if c.value == value:
                return c
        return None


@dataclass(frozen=True, slots=True)
class Form:
    """A versioned list of questions."""

    id: str
    version: int
    title: I18n
    fields: tuple[FieldDef, ...]
    groups: Mapping[str, I18n] = field(default_factory=dict)  # group -> its prompt

    def field(self, name: str) -> FieldDef | None:
        """The field called ``name``, if the form has one."""
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def by_role(self, role: str) -> FieldDef | None:
        """The field that plays ``role`` (see ROLES), if the form has one."""
        for f in self.fields:
            if f.role == role:
                return f
        return None

    def by_roles(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """Answers keyed by what each field is to the rest of the system: its role, else
        its name. Cases store this, so registration, search, flags and export read roles
        and never depend on what a form calls its fields."""
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.name in answers:
                out[f.role or f.name] = answers[f.name]
        return out

    def group_of(self, f: FieldDef) -> list[FieldDef]:
        """The fields asked together with ``f`` (just ``f`` when it has no group)."""
        if not f.group:
            return [f]
        return [g for g in self.fields if g.group == f.group]

    def applicable(self, answers: Mapping[str, Any]) -> list[FieldDef]:
        """Fields asked for these answers, in order (conditions see earlier answers only)."""
        return [f for f in self.fields if f.applies(answers)]


@dataclass(frozen=True)
class FormRegistry:
    """Every loaded form version plus the shared category and region catalogues."""

    forms: Mapping[tuple[str, int], Form]
    categories: tuple[ChoiceDef, ...] = ()
    regions: tuple[ChoiceDef, ...] = ()
    city: I18n = field(default_factory=lambda: I18n("", ""))

    def current(self, form_id: str = "intake") -> Form:
        """The highest version of ``form_id``; KeyError when there is none."""
        versions = [v for (fid, v) in self.forms if fid == form_id]
        if not versions:
            raise KeyError(f"no form {form_id!r} loaded")
        return self.forms[(form_id, max(versions))]

    def get(self, form_id: str, version: int) -> Form | None:
        """One exact form version, or None when it is no longer configured."""
        return self.forms.get((form_id, version))

    @functools.cached_property
    def gazetteer(self) -> Gazetteer:
        """Districts and subjects with every word that names them, for story extraction."""

        def entries(items: tuple[ChoiceDef, ...], skip: tuple[str, ...] = ()) -> tuple:  # type: ignore[type-arg]
            return tuple(
                (c.value, (c.label.zh, c.label.en, *c.aliases))
                for c in items
                if c.value not in skip
            )

        return Gazetteer(entries(self.regions, ("outside",)), entries(self.categories, ("other",)))

    def category_label(self, code: str, lang: str) -> str:
        """A category's label for display; the code itself when unknown."""
        for c in self.categories:
            if c.value == code:
                return c.label.get(lang)
        return code


# ---------------------------------------------------------------- parsing helpers


def _i18n(where: str, what: str, raw: object, *, required: bool = True) -> I18n | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, Mapping):
        raise FormError(f"{where}: {what} must be a mapping with zh and en texts")
    texts: dict[str, str] = {}
    for lang in LANGS:
        text = raw.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise FormError(f"{where}: {what} is missing the {lang} text")
        texts[lang] = text.strip()
    extra = set(raw) - set(LANGS)
    if extra:
        raise FormError(f"{where}: {what} has unknown languages {sorted(map(str, extra))}")
    return I18n(zh=texts["zh"], en=texts["en"])


def _req_i18n(where: str, what: str, raw: object) -> I18n:
    text = _i18n(where, what, raw)
    assert text is not None
    return text


def _choices(where: str, raw: object, *, key: str = "value") -> tuple[ChoiceDef, ...]:
    if not isinstance(raw, list) or not raw:
        raise FormError(f"{where}: choices must be a non-empty list")
    out: list[ChoiceDef] = []
    seen_values: set[str] = set()
    seen_tokens: dict[str, str] = {}
    for i, item in enumerate(raw, 1):
        if not isinstance(item, Mapping):
            raise FormError(f"{where}: choice {i} must be a mapping")
        value = item.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise FormError(f"{where}: choice {i} has no {key}")
        cwhere = f"{where}: choice {value!r}"
        if value in seen_values:
            raise FormError(f"{cwhere}: duplicate {key}")
        seen_values.add(value)
        aliases = item.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise FormError(f"{cwhere}: aliases must be a list of strings")
        unknown = set(item) - {key, "label", "aliases", "note", "description"}
        if unknown:
            raise FormError(f"{cwhere}: unknown keys {sorted(map(str, unknown))}")
        choice = ChoiceDef(
            value=value,
            label=_req_i18n(cwhere, "label", item.get("label")),
            aliases=tuple(a.strip() for a in aliases if a.strip()),
            note=_i18n(cwhere, "note", item.get("note"), required=False),
        )
        for token in choice.tokens():
            if token.isdigit() and len(token) <= 3:
                raise FormError(f"{cwhere}: {token!r} would clash with choice numbers")
            other = seen_tokens.get(token)
            if other is not None and other != value:
                raise FormError(f"{cwhere}: {token!r} also selects {other!r}")
            seen_tokens[token] = value
        out.append(choice)
    return tuple(out)


def _condition(where: str, raw: object, earlier: Mapping[str, FieldDef]) -> Condition:
    if not isinstance(raw, Mapping) or not raw:
        raise FormError(f"{where}: condition must be a non-empty mapping")
    keys = set(raw)
    for combinator in ("all", "any"):
        if combinator in raw:
            if keys != {combinator}:
                raise FormError(f"{where}: '{combinator}' must stand alone in a condition")
            items = raw[combinator]
            if not isinstance(items, list) or not items:
                raise FormError(f"{where}: '{combinator}' needs a non-empty list")
            children = tuple(_condition(where, c, earlier) for c in items)
            return Condition(op=combinator, children=children)
    if "not" in raw:
        if keys != {"not"}:
            raise FormError(f"{where}: 'not' must stand alone in a condition")
        return Condition(op="not", children=(_condition(where, raw["not"], earlier),))
    name = raw.get("field")
    if not isinstance(name, str):
        raise FormError(f"{where}: condition needs 'field', 'all', 'any' or 'not'")
    ops = [k for k in keys if k != "field"]
    if len(ops) != 1 or ops[0] not in _COMPARE_OPS:
        raise FormError(f"{where}: condition on {name!r} needs exactly one of {_COMPARE_OPS}")
    op = ops[0]
    target = earlier.get(name)
    if target is None:
        raise FormError(
            f"{where}: condition refers to unknown or later field {name!r}"
            " (conditions may only use fields asked before)"
        )
    operand = raw[op]
    if op in ("in", "not_in"):
        if not isinstance(operand, list) or not operand:
            raise FormError(f"{where}: '{op}' needs a non-empty list")
        values: tuple[Any, ...] = tuple(operand)
    elif op in _NUMERIC_OPS:
        if target.kind != "integer":
            raise FormError(f"{where}: '{op}' needs an integer field, {name!r} is {target.kind}")
        if not isinstance(operand, int | float) or isinstance(operand, bool):
            raise FormError(f"{where}: '{op}' needs a number")
        values = (operand,)
    elif op == "answered":
        if not isinstance(operand, bool):
            raise FormError(f"{where}: 'answered' needs true or false")
        values = (operand,)
    else:
        values = (operand,)
    if target.choices and op in ("eq", "ne", "in", "not_in"):
        known = {c.value for c in target.choices}
        bad = [v for v in values if v not in known]
        if bad:
            raise FormError(f"{where}: condition compares {name!r} with unknown values {bad}")
    return Condition(op=op, field=name, values=values)


def _int(where: str, raw: Mapping[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FormError(f"{where}: '{key}' must be a non-negative integer")
    return value


def _yesno_choices() -> tuple[ChoiceDef, ...]:
    return (
        ChoiceDef(
            "yes",
            I18n("是", "Yes"),
            (
                "是的",
                "对",
                "对的",
                "是啊",
                "对啊",
                "有",
                "有的",
                "有过",
                "反映过",
                "找过",
                "去过",
                "报过",
                "问过",
                "投诉过",
                "举报过",
                "信访过",
                "要",
                "y",
                "好",
                "匿名",
                "ok",
            ),
        ),
        ChoiceDef(
            "no",
            I18n("否", "No"),
            (
                "不",
                "不是",
                "没",
                "没有",
                "没有过",
                "从来没有",
                "没呢",
                "无",
                "n",
                "不要",
                "实名",
                "不匿名",
                "不用匿名",
                "没反映过",
                "没有反映过",
                "没找过",
                "没去过",
                "第一次",
                "头一次",
            ),
        ),
    )


def _field(
    where: str,
    raw: object,
    earlier: Mapping[str, FieldDef],
    catalogues: Mapping[str, tuple[ChoiceDef, ...]],
) -> FieldDef:
    if not isinstance(raw, Mapping):
        raise FormError(f"{where}: every field must be a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise FormError(f"{where}: field without a valid 'name' ({name!r})")
    fwhere = f"{where}: field {name!r}"
    if name in earlier:
        raise FormError(f"{fwhere}: duplicate field name")
    unknown = set(raw) - _FIELD_KEYS
    if unknown:
        raise FormError(f"{fwhere}: unknown keys {sorted(map(str, unknown))}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise FormError(f"{fwhere}: unknown kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        raise FormError(f"{fwhere}: 'optional' must be true or false")
    choices: tuple[ChoiceDef, ...] = ()
    source = raw.get("source", "")
    if kind == "choice":
        if source:
            if source not in SOURCES:
                raise FormError(f"{fwhere}: unknown source {source!r} (known: {SOURCES})")
            if "choices" in raw:
                raise FormError(f"{fwhere}: give either 'source' or 'choices', not both")
            choices = catalogues[str(source)]
            if not choices:
                raise FormError(f"{fwhere}: source {source!r} has no entries")
        else:
            choices = _choices(fwhere, raw.get("choices"))
    elif kind == "yesno":
        if "choices" in raw or source:
            raise FormError(f"{fwhere}: a yesno field has fixed choices")
        choices = _yesno_choices()
    elif "choices" in raw or source:
        raise FormError(f"{fwhere}: only choice fields take 'choices' or 'source'")
    when = raw.get("when")
    min_len = _int(fwhere, raw, "min_len", 1)
    max_len = _int(fwhere, raw, "max_len", 5000 if kind == "longtext" else 200)
    if min_len > max_len:
        raise FormError(f"{fwhere}: min_len is larger than max_len")
    min_value = _int(fwhere, raw, "min", 1)
    max_value = _int(fwhere, raw, "max", 100_000)
    if min_value > max_value:
        raise FormError(f"{fwhere}: min is larger than max")
    max_items = _int(fwhere, raw, "max_items", 5)
    if max_items < 1:
        raise FormError(f"{fwhere}: max_items must be at least 1")
    role = raw.get("role", "")
    if role and role not in ROLES:
        raise FormError(f"{fwhere}: unknown role {role!r} (known: {', '.join(sorted(ROLES))})")
    flags = {}
    for key, default in (("pii", False), ("searchable", False), ("ask", True)):
        flags[key] = raw.get(key, default)
        if not isinstance(flags[key], bool):
            raise FormError(f"{fwhere}: '{key}' must be true or false")
    group = raw.get("group", "")
    if not isinstance(group, str) or (group and not _NAME.match(group)):
        raise FormError(f"{fwhere}: 'group' must be a lower-case identifier")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise FormError(f"{fwhere}: 'aliases' must be a list of words")
    return FieldDef(
        name=name,
        kind=str(kind),
        label=_req_i18n(fwhere, "label", raw.get("label")),
        prompt=_req_i18n(fwhere, "prompt", raw.get("prompt")),
        help=_req_i18n(fwhere, "help", raw.get("help")),
        optional=optional,
        choices=choices,
        when=None if when is None else _condition(fwhere, when, earlier),
        min_len=min_len,
        max_len=max_len,
        min_value=min_value,
        max_value=max_value,
        max_items=max_items,
        source=str(source or ""),
        role=str(role),
        pii=flags["pii"],
        searchable=flags["searchable"],
        group=group,
        ask=flags["ask"],
        aliases=tuple(a.strip() for a in aliases),
    )


def parse_form(
    data: Mapping[str, Any],
    where: str,
    catalogues: Mapping[str, tuple[ChoiceDef, ...]],
) -> Form:
    """Validate one form document; ``where`` names it in error messages."""
    form_id = data.get("id")
    if not isinstance(form_id, str) or not _NAME.match(form_id):
        raise FormError(f"{where}: 'id' must be a lower-case identifier")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormError(f"{where}: 'version' must be a positive integer")
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise FormError(f"{where}: 'fields' must be a non-empty list")
    fields: dict[str, FieldDef] = {}
    roles: dict[str, str] = {}
    for raw in raw_fields:
        f = _field(where, raw, fields, catalogues)
        fields[f.name] = f
        if f.role:
            if f.role in roles:
                raise FormError(
                    f"{where}: role {f.role!r} given to {roles[f.role]!r} and {f.name!r}"
                )
            roles[f.role] = f.name
    named: dict[str, str] = {}
    for f in fields.values():
        for alias in f.aliases:
            word = normalize_token(alias).replace(" ", "")
            if named.setdefault(word, f.name) != f.name:
                raise FormError(f"{where}: alias {alias!r} given to {named[word]!r} and {f.name!r}")
    raw_groups = data.get("groups", {})
    if not isinstance(raw_groups, Mapping):
        raise FormError(f"{where}: 'groups' must be a mapping")
    groups = {
        str(g): _req_i18n(f"{where}: group {g!r}", "prompt", (v or {}).get("prompt"))
        for g, v in raw_groups.items()
    }
    used = {f.group for f in fields.values() if f.group}
    if used != set(groups):
        raise FormError(
            f"{where}: groups used by fields {sorted(used)} and defined {sorted(groups)} differ"
        )
    return Form(
        id=form_id,
        version=version,
        title=_req_i18n(where, "title", data.get("title")),
        fields=tuple(fields.values()),
        groups=groups,
    )


def _catalogue(
    config_dir: Path, filename: str, key: str
) -> tuple[Mapping[str, Any], tuple[ChoiceDef, ...]]:
    path = config_dir / filename
    where = f"config/{filename}"
    data = read_mapping(path, where, FormError)
    return data, _choices(f"{where}: {key}", data.get(key), key="code")


def load_forms(config_dir: Path) -> FormRegistry:
    """Load and validate every config/forms/*.yaml plus categories.yaml and regions.yaml."""
    _, categories = _catalogue(config_dir, "categories.yaml", "categories")
    region_data, regions = _catalogue(config_dir, "regions.yaml", "regions")
    city = _req_i18n("config/regions.yaml", "city", region_data.get("city"))
    catalogues = {"categories": categories, "regions": regions}
    forms: dict[tuple[str, int], Form] = {}
    paths = sorted((config_dir / "forms").glob("*.yaml"))
    if not paths:
        raise FormError(f"config/forms: no form files in {config_dir / 'forms'}")
    for path in paths:
        where = f"config/forms/{path.name}"
        form = parse_form(read_mapping(path, where, FormError), where, catalogues)
        key = (form.id, form.version)
        if key in forms:
            raise FormError(f"{where}: form {form.id!r} version {form.version} defined twice")
        forms[key] = form
    for form_id in {fid for fid, _ in forms}:
        newest = max(v for fid, v in forms if fid == form_id)
        missing = REQUIRED_ROLES - {f.role for f in forms[(form_id, newest)].fields}
        if missing:  # older versions only finish their drafts; the newest is filled anew
            raise FormError(
                f"config/forms: form {form_id!r} version {newest} has no field with the "
                f"role(s) {', '.join(sorted(missing))} (the story reading and registration "
                "need them)"
            )
    return FormRegistry(forms=forms, categories=categories, regions=regions, city=city)
