"""config/documents.yaml: every kind the lifecycle issues is configured, with a 文号 pattern
that numbers (``{seq}``) and a template; mistakes are named when the bot starts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.cases.documents import DOCUMENT_OF, KINDS, DocumentConfigError, load_document_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def edit(config: Path, change: dict[str, object]) -> None:
    path = config / "documents.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for kind, entry in change.items():
        if entry is None:
            del data["kinds"][kind]
        else:
            data["kinds"][kind] = entry
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_the_shipped_configuration_covers_every_action_that_issues_one() -> None:
    loaded = load_document_config(CONFIG_DIR)
    assert set(loaded.kinds) == set(KINDS) == set(DOCUMENT_OF.values())
    assert loaded.kinds["review"].format(2026, 17) == "杭信复〔2026〕17号"
    numbers = {k.format(2026, 1) for k in loaded.kinds.values()}
    assert len(numbers) == len(KINDS), "kinds are told apart by their 文号"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"review": None}, "missing kinds ['review']"),
        ({"memo": {"title": "备忘", "number": "{seq}"}}, "unknown kinds ['memo']"),
        ({"review": {"title": "复查意见书", "number": "杭信复〔{year}〕号"}}, "must contain {seq}"),
        (
            {"review": {"title": "复查意见书", "number": "杭信复〔{yr}〕{seq}号"}},
            "{year} and {seq}",
        ),
        ({"review": {"number": "杭信复〔{year}〕{seq}号"}}, "needs a title and a number"),
    ],
)
def test_mistakes_are_named(config: Path, change: dict[str, object], message: str) -> None:
    edit(config, change)
    with pytest.raises(DocumentConfigError, match=message.replace("[", r"\[").replace("{", r"\{")):
        load_document_config(config)


def test_a_missing_template_is_named(config: Path) -> None:
    (config / "documents" / "transfer.html").unlink()
    with pytest.raises(DocumentConfigError, match=r"config/documents/transfer\.html"):
        load_document_config(config)


def test_check_config_reports_a_broken_template(config: Path, tmp_path: Path) -> None:
    (config / "documents" / "rejection.html").write_text("{% extends 'base.html' %}{% block")
    env = {
        "PATH": "/usr/bin:/bin",
        "XINFANG_CONFIG_DIR": str(config),
        "XINFANG_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check-config"],
        env=env,
        capture_output=True,
        text=True,
        cwd=CONFIG_DIR.parent,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "invalid document configuration" in done.stderr
