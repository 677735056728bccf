"""Default routing of a case to a department (属地管理, 谁主管谁负责), from departments.yaml."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import read_mapping


class RoutingError(ValueError):
    """config/departments.yaml is invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class Department:
    """A department that handles cases."""

    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Route:
    """The lead department (主办) and any co-handling departments (协办)."""

    department: str
    co_departments: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Level:
    name: str
    own_departments: bool
    petition_office: str
    categories: Mapping[str, str]
    co_handling: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class _Rule:
    region: str | None
    category: str
    department: str
    co_departments: tuple[str, ...]


class Routing:
    """Decides the default department for a region (事发地) and a category."""

    def __init__(
        self,
        *,
        departments: Mapping[str, Department],
        kinds: frozenset[str],
        levels: Mapping[str, _Level],
        rules: tuple[_Rule, ...],
        default_office: str,
    ) -> None:
        self.departments: dict[str, Department] = dict(departments)
        self._kinds = kinds
        self._levels = dict(levels)
        self._rules = rules
        self._default_office = default_office

    def route(self, region: str, category: str) -> Route:
        """The route of a case: explicit rule, the region's competent department, or its office."""
        level = self._levels.get(region)
        if level is None:
            return Route(self._default_office)
        for rule in self._rules:
            if rule.category != category or rule.region not in (None, region):
                continue
            if not level.own_departments and self._names_kind(rule):
                continue
            return self._route(region, rule.department, rule.co_departments)
        lead = level.categories.get(category, level.petition_office)
        return self._route(region, lead, level.co_handling.get(category, ()))

    def _names_kind(self, rule: _Rule) -> bool:
        return any(ref in self._kinds for ref in (rule.department, *rule.co_departments))

    def _route(self, region: str, lead: str, co: tuple[str, ...]) -> Route:
        department = self._resolve(region, lead)
        others: list[str] = []
        for ref in co:
            code = self._resolve(region, ref)
            if code != department and code not in others:
                others.append(code)
        return Route(department, tuple(others))

    def _resolve(self, region: str, ref: str) -> str:
        return f"{region}-{ref}" if ref in self._kinds else ref


def load_routing(config_dir: Path) -> Routing:
    """Load config/departments.yaml, checked against regions.yaml and categories.yaml codes."""
    where = "config/departments.yaml"
    data = read_mapping(config_dir / "departments.yaml", where, RoutingError)
    regions = _codes(config_dir, "regions.yaml", "regions")
    categories = _codes(config_dir, "categories.yaml", "categories")

    kinds = _mapping(where, "kinds", data.get("kinds"))
    kind_names: dict[str, tuple[str, str]] = {}
    for code, raw in kinds.items():
        kind_names[str(code)] = _names(f"{where}: kinds.{code}", raw)

    departments: dict[str, Department] = {}
    raw_departments = data.get("departments", [])
    if not isinstance(raw_departments, list):
        raise RoutingError(f"{where}: 'departments' must be a list")
    for index, raw in enumerate(raw_departments):
        dwhere = f"{where}: departments[{index}]"
        if not isinstance(raw, Mapping) or not isinstance(raw.get("code"), str | int):
            raise RoutingError(f"{dwhere}: must be a mapping with 'code', 'zh' and 'en'")
        code = str(raw["code"])
        if code in kind_names:
            raise RoutingError(f"{dwhere}: code {code!r} is also a kind")
        if code in departments:
            raise RoutingError(f"{dwhere}: duplicate department code {code!r}")
        zh, en = _names(f"{dwhere} ({code})", raw)
        departments[code] = Department(code, zh, en)

    region_labels = regions
    levels: dict[str, _Level] = {}
    for name, raw in _mapping(where, "levels", data.get("levels")).items():
        lwhere = f"{where}: levels.{name}"
        if not isinstance(raw, Mapping):
            raise RoutingError(f"{lwhere}: must be a mapping")
        own = raw.get("own_departments", False)
        if not isinstance(own, bool):
            raise RoutingError(f"{lwhere}.own_departments: must be true or false")
        level_regions = raw.get("regions")
        if not isinstance(level_regions, list) or not level_regions:
            raise RoutingError(f"{lwhere}.regions: must be a non-empty list of region codes")

        def check(key: str, ref: Any, own: bool = own, lwhere: str = lwhere) -> str:
            if not isinstance(ref, str) or not ref:
                raise RoutingError(f"{lwhere}.{key}: must be a kind or a department code")
            if ref in kind_names and not own:
                raise RoutingError(
                    f"{lwhere}.{key}: kind {ref!r} needs own_departments: true on this level"
                )
            if ref not in kind_names and ref not in departments:
                raise RoutingError(f"{lwhere}.{key}: unknown kind or department {ref!r}")
            return ref

        office = check("petition_office", raw.get("petition_office"))
        level_categories: dict[str, str] = {}
        for category, ref in _mapping(lwhere, "categories", raw.get("categories", {})).items():
            _known(f"{lwhere}.categories", "category", str(category), categories)
            level_categories[str(category)] = check(f"categories.{category}", ref)
        co_handling: dict[str, tuple[str, ...]] = {}
        for category, refs in _mapping(lwhere, "co_handling", raw.get("co_handling", {})).items():
            _known(f"{lwhere}.co_handling", "category", str(category), categories)
            if not isinstance(refs, list):
                raise RoutingError(f"{lwhere}.co_handling.{category}: must be a list")
            co_handling[str(category)] = tuple(
                check(f"co_handling.{category}", ref) for ref in refs
            )
        level = _Level(str(name), own, office, level_categories, co_handling)
        for region in level_regions:
            code = str(region)
            _known(f"{lwhere}.regions", "region", code, region_labels)
            if code in levels:
                raise RoutingError(
                    f"{lwhere}.regions: region {code!r} is already in level {levels[code].name!r}"
                )
            levels[code] = level
            if own:
                for kind, (zh, en) in kind_names.items():
                    dep = f"{code}-{kind}"
                    if dep in departments:
                        raise RoutingError(f"{where}: departments: {dep!r} clashes with a kind")
                    rzh, ren = region_labels[code]
                    departments[dep] = Department(dep, f"{rzh}{zh}", f"{ren} {en}")
    missing = sorted(set(region_labels) - set(levels))
    if missing:
        raise RoutingError(f"{where}: levels: region {missing[0]!r} is in no level")

    rules: list[_Rule] = []
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise RoutingError(f"{where}: 'rules' must be a list")
    for index, raw in enumerate(raw_rules):
        rwhere = f"{where}: rules[{index}]"
        if not isinstance(raw, Mapping):
            raise RoutingError(f"{rwhere}: must be a mapping")
        category = str(raw.get("category") or "")
        _known(rwhere, "category", category, categories)
        region = None if raw.get("region") is None else str(raw["region"])
        if region is not None:
            _known(rwhere, "region", region, region_labels)
        co = raw.get("co_departments", [])
        if not isinstance(co, list):
            raise RoutingError(f"{rwhere}: 'co_departments' must be a list")
        refs = [raw.get("department"), *co]
        for ref in refs:
            if not isinstance(ref, str) or (ref not in kind_names and ref not in departments):
                raise RoutingError(f"{rwhere}: unknown kind or department {ref!r}")
            if region is not None and ref in kind_names and not levels[region].own_departments:
                raise RoutingError(
                    f"{rwhere}: kind {ref!r} but region {region!r} has no own departments"
                )
        rules.append(_Rule(region, category, str(refs[0]), tuple(str(r) for r in co)))

    default_office = data.get("default_office")
    if not isinstance(default_office, str) or default_office not in departments:
        raise RoutingError(f"{where}: 'default_office' must be the code of a listed department")
    return Routing(
        departments=departments,
        kinds=frozenset(kind_names),
        levels=levels,
        rules=tuple(rules),
        default_office=default_office,
    )


def _codes(config_dir: Path, filename: str, key: str) -> dict[str, tuple[str, str]]:
    where = f"config/{filename}"
    items = read_mapping(config_dir / filename, where, RoutingError).get(key)
    if not isinstance(items, list):
        raise RoutingError(f"{where}: '{key}' must be a list")
    codes: dict[str, tuple[str, str]] = {}
    for item in items:
        if isinstance(item, Mapping) and "code" in item:
            label = item.get("label")
            zh = en = str(item["code"])
            if isinstance(label, Mapping):
                zh, en = str(label.get("zh", zh)), str(label.get("en", en))
            codes[str(item["code"])] = (zh, en)
    return codes


def _mapping(where: str, key: str, raw: Any) -> Mapping[Any, Any]:
    if not isinstance(raw, Mapping):
        raise RoutingError(f"{where}: '{key}' must be a mapping")
    return raw


def _names(where: str, raw: Any) -> tuple[str, str]:
    if not isinstance(raw, Mapping):
        raise RoutingError(f"{where}: must be a mapping with 'zh' and 'en'")
    zh, en = raw.get("zh"), raw.get("en")
    if not isinstance(zh, str) or not zh.strip() or not isinstance(en, str) or not en.strip():
        raise RoutingError(f"{where}: 'zh' and 'en' names are required")
    return zh.strip(), en.strip()


def _known(where: str, what: str, code: str, known: Mapping[str, Any]) -> None:
    if code not in known:
        raise RoutingError(f"{where}: unknown {what} {code!r}")
