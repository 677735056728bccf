"""Routing: 属地管理 + 谁主管谁负责 from departments.yaml, fallbacks, co-handlers, validation."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cases.routing import Route, Routing, RoutingError, load_routing

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def routing() -> Routing:
    return load_routing(CONFIG_DIR)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


@pytest.mark.parametrize(
    ("region", "category", "route"),
    [
        ("330106", "labour", Route("330106-rsj")),
        ("330105", "environment", Route("330105-sthj")),
        ("330109", "demolition", Route("330109-zjj", ("330109-zrzy",))),
        ("330102", "law_enforcement", Route("330102-zfw", ("330102-gaj",))),
        ("330109", "accident", Route("330109-yjj", ("330109-gaj",))),
        ("330182", "governance", Route("330182-jw")),
        # explicit rules: reservoir resettlement offices in 淳安 and 建德
        ("330127", "resettlement", Route("330127-ymb", ("330127-nync",))),
        ("330182", "resettlement", Route("330182-ymb", ("330182-nync",))),
        ("330110", "resettlement", Route("330110-nync")),
        # no competent department configured: the region's petition office
        ("330106", "legacy", Route("330106-xfj")),
        ("330108", "other", Route("330108-xfj")),
        ("330111", "proposals", Route("330111-xfj")),
        # outside the city: the city bureau, except the political-legal and discipline organs
        ("outside", "labour", Route("hz-xfj")),
        ("outside", "governance", Route("hz-jw")),
        ("outside", "law_enforcement", Route("hz-zfw")),
        # unknown codes (an old case): the default office / the region's office
        ("999999", "labour", Route("hz-xfj")),
        ("330106", "no-such-category", Route("330106-xfj")),
    ],
)
def test_route(routing: Routing, region: str, category: str, route: Route) -> None:
    assert routing.route(region, category) == route
    assert route.department in routing.departments
    assert all(code in routing.departments for code in route.co_departments)


def test_every_region_and_category_routes_to_a_known_department(routing: Routing) -> None:
    regions = [
        r["code"] for r in yaml.safe_load((CONFIG_DIR / "regions.yaml").read_text())["regions"]
    ]
    categories = [
        c["code"]
        for c in yaml.safe_load((CONFIG_DIR / "categories.yaml").read_text())["categories"]
    ]
    for region in regions:
        for category in categories:
            route = routing.route(region, category)
            assert route.department in routing.departments
            assert route.department not in route.co_departments


def test_department_names(routing: Routing) -> None:
    dep = routing.departments["330106-rsj"]
    assert dep.name_zh == "西湖区人力资源和社会保障局"
    assert dep.name_en == "Xihu District Human Resources and Social Security Bureau"
    assert routing.departments["hz-xfj"].name_zh == "杭州市信访局"


def _edit(config: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = config / "departments.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


def test_rule_for_a_category_in_every_region(config: Path) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["rules"].append({"category": "labour", "department": "rsj", "co_departments": ["zjj"]})
        doc["rules"].append(
            {"category": "legacy", "department": "hz-xfj", "co_departments": ["xfj"]}
        )

    _edit(config, edit)
    routing = load_routing(config)
    assert routing.route("330106", "labour") == Route("330106-rsj", ("330106-zjj",))
    # a kind rule does not apply where the region has no departments of its own
    assert routing.route("outside", "labour") == Route("hz-xfj")
    assert routing.route("330110", "legacy") == Route("hz-xfj", ("330110-xfj",))
    assert routing.route("330127", "resettlement") == Route("330127-ymb", ("330127-nync",))


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set(["levels", "county", "categories", "labor"], "rsj"),
         "levels.county.categories: unknown category 'labor'"),
        (_set(["levels", "county", "categories", "labour"], "hrss"),
         "levels.county.categories.labour: unknown kind or department 'hrss'"),
        (_set(["levels", "county", "regions"], ["330102", "330105"]),
         "levels: region '330106' is in no level"),
        (_set(["levels", "outside", "regions"], ["outside", "330102"]),
         "levels.outside.regions: region '330102' is already in level 'county'"),
        (_set(["levels", "outside", "regions"], ["outside", "330199"]),
         "levels.outside.regions: unknown region '330199'"),
        (_set(["levels", "outside", "categories", "labour"], "rsj"),
         "levels.outside.categories.labour: kind 'rsj' needs own_departments: true"),
        (_set(["rules", 0, "region"], "330100"), "rules[0]: unknown region '330100'"),
        (_set(["rules", 0, "category"], "migration"), "rules[0]: unknown category 'migration'"),
        (_set(["rules", 0, "department"], "330127-xyz"),
         "rules[0]: unknown kind or department '330127-xyz'"),
        (_set(["rules", 0, "region"], "outside"),
         "rules[0]: kind 'nync' but region 'outside' has no own departments"),
        (_set(["departments", 1, "code"], "hz-xfj"), "departments[1]: duplicate department code"),
        (_set(["departments", 0, "en"], ""), "departments[0] (hz-xfj): 'zh' and 'en' names"),
        (_set(["default_office"], "xfj"), "'default_office' must be the code of a listed"),
        (_set(["kinds", "rsj"], {"zh": "人社局"}), "kinds.rsj: 'zh' and 'en' names are required"),
    ],
)  # fmt: skip
def test_validation_names_the_entry(
    config: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    _edit(config, edit)
    with pytest.raises(RoutingError) as info:
        load_routing(config)
    assert "config/departments.yaml" in str(info.value)
    assert message in str(info.value)
