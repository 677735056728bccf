"""Form, catalogue and texts validation: every error names the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot.dialogs.form import REQUIRED_ROLES, FormError, load_forms
from bot.dialogs.texts import load_texts

from .harness import CONFIG_DIR


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def _edit_form(config: Path, edit: object) -> None:
    path = config / "forms" / "intake.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(doc)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


def _field(doc: dict, name: str) -> dict:  # type: ignore[type-arg]
    return next(f for f in doc["fields"] if f["name"] == name)


def test_shipped_config_loads() -> None:
    registry = load_forms(CONFIG_DIR)
    form = registry.current()
    assert [f.name for f in form.fields] == [
        "appeal_type", "anonymous", "name", "phone", "address", "region", "incident_place",
        "category", "respondent", "request", "facts", "people_count", "representatives",
        "representative_phones", "legal_status", "reported_before", "earlier_tracking_no",
        "attachments",
    ]  # fmt: skip
    assert 12 <= len(registry.categories) <= 15
    assert registry.get("intake", 2) is form
    assert registry.get("intake", 1) is not None  # kept: drafts started on it finish on it
    assert {f.role for f in form.fields} >= REQUIRED_ROLES
    assert registry.get("intake", 99) is None
    load_texts(CONFIG_DIR)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: _field(d, "phone").update(kind="fone"), "field 'phone': unknown kind 'fone'"),
        (
            lambda d: d["fields"].append(dict(_field(d, "name"))),
            "field 'name': duplicate field name",
        ),
        (
            lambda d: _field(d, "anonymous").update(when={"field": "facts", "eq": 1}),
            "field 'anonymous': condition refers to unknown or later field 'facts'",
        ),
        (
            lambda d: _field(d, "anonymous").update(when={"field": "nope", "eq": 1}),
            "field 'anonymous': condition refers to unknown or later field 'nope'",
        ),
        (
            lambda d: _field(d, "name").update(
                when={"all": [{"not": {"field": "ghost", "eq": 1}}]}
            ),
            "field 'name': condition refers to unknown or later field 'ghost'",
        ),
        (
            lambda d: _field(d, "anonymous").update(when={"field": "appeal_type", "in": ["x"]}),
            "field 'anonymous': condition compares 'appeal_type' with unknown values ['x']",
        ),
        (
            lambda d: _field(d, "representatives").update(when={"field": "name", "gte": 5}),
            "field 'representatives': 'gte' needs an integer field",
        ),
        (
            lambda d: _field(d, "anonymous").update(when={"field": "appeal_type", "eval": "1"}),
            "field 'anonymous': condition on 'appeal_type' needs exactly one of",
        ),
        (
            lambda d: _field(d, "request")["prompt"].pop("en"),
            "field 'request': prompt is missing the en text",
        ),
        (
            lambda d: _field(d, "request").update(help="帮助"),
            "field 'request': help must be a mapping",
        ),
        (
            lambda d: _field(d, "appeal_type").update(choices=[]),
            "field 'appeal_type': choices must be a non-empty list",
        ),
        (
            lambda d: _field(d, "appeal_type")["choices"].append(
                dict(_field(d, "appeal_type")["choices"][0])
            ),
            "field 'appeal_type': choice 'suggestion': duplicate value",
        ),
        (
            lambda d: _field(d, "appeal_type")["choices"][1]["aliases"].append("建议"),
            "field 'appeal_type': choice 'accusation': '建议' also selects 'suggestion'",
        ),
        (
            lambda d: _field(d, "appeal_type")["choices"][0]["aliases"].append("2"),
            "field 'appeal_type': choice 'suggestion': '2' would clash with choice numbers",
        ),
        (
            lambda d: _field(d, "region").update(source="planets"),
            "field 'region': unknown source 'planets'",
        ),
        (lambda d: _field(d, "name").update(choices=[]), "field 'name': only choice fields take"),
        (lambda d: _field(d, "name").update(colour="red"), "field 'name': unknown keys ['colour']"),
        (
            lambda d: _field(d, "name").update(min_len=10, max_len=5),
            "field 'name': min_len is larger",
        ),
        (
            lambda d: _field(d, "name").update(aliases="名字"),
            "field 'name': 'aliases' must be a list of words",
        ),
        (
            lambda d: (
                _field(d, "name").update(aliases=["名字"]),
                _field(d, "address").update(aliases=["名 字"]),
            ),
            "alias '名 字' given to 'name' and 'address'",
        ),
        (lambda d: d.update(version=0), "'version' must be a positive integer"),
        (lambda d: d.update(fields=[]), "'fields' must be a non-empty list"),
    ],
)
def test_form_errors_name_the_field(config: Path, edit: object, expected: str) -> None:
    _edit_form(config, edit)
    with pytest.raises(FormError) as err:
        load_forms(config)
    assert str(err.value).startswith("config/forms/intake.yaml: ")
    assert expected in str(err.value)


def test_duplicate_form_version(config: Path) -> None:
    shutil.copy(config / "forms" / "intake.yaml", config / "forms" / "intake_copy.yaml")
    with pytest.raises(FormError, match="version 1 defined twice"):
        load_forms(config)


def test_bad_yaml_and_bad_catalogue(config: Path) -> None:
    (config / "categories.yaml").write_text("categories: [\n", encoding="utf-8")
    with pytest.raises(FormError, match=r"^config/categories.yaml: cannot read"):
        load_forms(config)
    (config / "categories.yaml").write_text(
        "categories:\n  - {code: land, label: {zh: 土地}}\n", encoding="utf-8"
    )
    with pytest.raises(FormError, match="choice 'land': label is missing the en text"):
        load_forms(config)


def test_texts_must_match(config: Path) -> None:
    en = config / "texts" / "en.yaml"
    en.write_text(en.read_text(encoding="utf-8") + "extra: only in English\n", encoding="utf-8")
    with pytest.raises(FormError, match=r"zh.yaml: missing keys \['extra'\]"):
        load_texts(config)


def test_texts_placeholders_must_match(config: Path) -> None:
    en = config / "texts" / "en.yaml"
    text = en.read_text(encoding="utf-8").replace(
        "at least {min} characters", "at least {mn} characters"
    )
    en.write_text(text, encoding="utf-8")
    with pytest.raises(FormError, match=r"invalid\.too_short"):
        load_texts(config)


def test_texts_required_keys(config: Path) -> None:
    zh = config / "texts" / "zh.yaml"
    zh.write_text(
        zh.read_text(encoding="utf-8").replace("  closed: 已办结\n", ""), encoding="utf-8"
    )
    with pytest.raises(FormError, match=r"zh.yaml: missing keys \['status.closed'\]"):
        load_texts(config)


def test_the_newest_form_must_declare_the_roles_the_code_needs(tmp_path: Path) -> None:
    shutil.copytree(CONFIG_DIR, tmp_path / "config")
    v2 = tmp_path / "config" / "forms" / "intake_v2.yaml"
    v2.write_text(v2.read_text(encoding="utf-8").replace("    role: phone\n", ""), "utf-8")
    with pytest.raises(FormError, match=r"role.*phone"):
        load_forms(tmp_path / "config")
