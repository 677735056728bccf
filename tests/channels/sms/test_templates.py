"""config/sms.yaml: every notice kind has an approved template within Tencent's limits,
and check-config refuses a table that breaks them."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.__main__ import main
from bot.channels.sms_templates import (
    REQUIRED,
    FillError,
    SmsConfigError,
    fill,
    link_tail,
    parse_config,
)
from tests.channels.sms.conftest import PUBLIC_URL, sms_yaml
from tests.conftest import CONFIG_DIR

TZ = ZoneInfo("Asia/Shanghai")


def broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(sms_yaml())
    change(data)
    return data


def test_the_shipped_table_has_every_kind_and_names_the_public_url() -> None:
    config = parse_config(sms_yaml())
    assert set(REQUIRED) <= set(config.templates)
    assert config.check_links(PUBLIC_URL) == []
    assert config.check_links("https://other.example.gov.cn")  # not the approved address
    assert config.template("push.assigned").id == config.templates["default"].id


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["templates"].pop("push.extended"), "missing templates for: push.extended"),
        (lambda d: d["templates"].pop("verification"), "missing templates for: verification"),
        (lambda d: d["templates"]["push.accepted"].update(params=["tracking_no"]), "variables"),
        (lambda d: d["templates"]["push.accepted"].update(id="SMS_123"), "numeric id"),
        (lambda d: d["templates"]["broadcast"].update(params=["body"]), "unknown params"),
        (lambda d: d["templates"]["verification"].update(text="验证码{1}，{2}分钟内有效",
                                                         params=["code", "date"]), "code alone"),
        (lambda d: d["templates"]["default"].update(status=""), "status"),
        (lambda d: d["templates"]["broadcast"].update(text="{1}"), "only variables"),
        (lambda d: d.update(sign_name="某"), "sign_name"),
        # an individually verified account: 12 characters a variable, which a case number
        # (15) and a link do not fit
        (lambda d: d.update(account="individual"), "individually verified"),
    ],
)  # fmt: skip
def test_a_table_that_breaks_a_rule_is_refused(change: Any, problem: str) -> None:
    with pytest.raises(SmsConfigError, match=problem):
        parse_config(broken(change))


def test_filling_respects_the_variable_rules() -> None:
    config = parse_config(sms_yaml())
    url = f"{PUBLIC_URL}/my/cases/XF2611230482733?k=1.2.{'a' * 32}"
    data = {"tracking_no": "XF2611230482733", "at": "2026-11-23T17:00:00+00:00", "url": url}
    values = fill(
        config.templates["default"], data, "", public_url=PUBLIC_URL, tz=TZ, max_text_chars=300
    )
    # the notice's date in the office's time zone (01:00 on the 24th in Beijing)
    assert values == ["XF2611230482733", "有新进展", "2026-11-24", link_tail(url, PUBLIC_URL)]
    with pytest.raises(FillError, match="link"):  # a broadcast text may not carry a link
        fill(
            config.templates["broadcast"], {}, "详见 www.example.cn", public_url=PUBLIC_URL,
            tz=TZ, max_text_chars=300,
        )  # fmt: skip
    with pytest.raises(FillError, match="at most"):
        fill(
            config.templates["broadcast"], {}, "长" * 301, public_url=PUBLIC_URL, tz=TZ,
            max_text_chars=300,
        )  # fmt: skip


def test_check_config_refuses_a_missing_kind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    data = broken(lambda d: d["templates"].pop("push.answered"))
    (config / "sms.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("XINFANG_CONFIG_DIR", str(config))
    monkeypatch.setenv("XINFANG_DATA_DIR", str(tmp_path))
    assert main(["check-config"]) == 2
    assert "push.answered" in capsys.readouterr().err


def test_check_config_refuses_links_to_another_address_when_sms_is_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {
        "XINFANG_CONFIG_DIR": str(CONFIG_DIR),
        "XINFANG_DATA_DIR": str(tmp_path),
        "XINFANG_PUBLIC_URL": "https://other.example.gov.cn",
        "XINFANG_SECRET_KEY": "k" * 32,
        "XINFANG_SMS_SECRET_ID": "AKID",
        "XINFANG_SMS_SECRET_KEY": "key",
        "XINFANG_SMS_SDK_APP_ID": "1400000001",
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config"]) == 2
    assert "https://other.example.gov.cn/my/cases/" in capsys.readouterr().err
