"""Settings validation messages and the PII masking of every log line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog

from bot.__main__ import main
from bot.logging import configure_logging, mask_id, mask_text
from bot.messages import Address
from bot.settings import SettingsError, load_settings


def test_defaults_use_an_sqlite_file_in_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XINFANG_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith("xinfang.sqlite3")
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert not settings.wechat_enabled and not settings.telegram_enabled


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("XINFANG_PORT", "eighty", "XINFANG_PORT"),
        ("XINFANG_PORT", "70000", "XINFANG_PORT"),
        ("XINFANG_DATABASE_URL", "mysql://x", "postgresql+asyncpg://"),
        ("XINFANG_TIMEZONE", "Mars/Base", "IANA"),
        ("XINFANG_LOG_LEVEL", "loud", "debug, info"),
        ("XINFANG_PUBLIC_URL", "xinfang.example.gov.cn", "origin"),
        ("XINFANG_PUBLIC_URL", "https://example.gov.cn/path", "no path"),
        ("XINFANG_SECRET_KEY", "short", "32 characters"),
        ("XINFANG_CASE_LINK_DAYS", "0", "XINFANG_CASE_LINK_DAYS"),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert name in str(err.value) and fragment in str(err.value)


def test_links_need_the_secret_and_the_message_shows_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XINFANG_PUBLIC_URL", "https://xinfang.example.gov.cn/")
    monkeypatch.setenv("XINFANG_TELEGRAM_TOKEN", "123:telegram-token-never-printed")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "XINFANG_SECRET_KEY" in str(err.value)
    assert "never-printed" not in str(err.value)
    monkeypatch.setenv("XINFANG_SECRET_KEY", "k" * 32)
    settings = load_settings()
    assert settings.public_url == "https://xinfang.example.gov.cn"
    assert settings.case_links.enabled and settings.case_links.days == 30


def test_cli_reports_bad_settings_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XINFANG_PORT", "0")
    assert main(["check-config"]) == 2
    assert "XINFANG_PORT" in capsys.readouterr().err


def test_cli_reports_a_bad_form_by_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Path(__file__).resolve().parent.parent / "config"
    for item in config.rglob("*.yaml"):
        target = tmp_path / item.relative_to(config)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item.read_text(encoding="utf-8"), encoding="utf-8")
    form = tmp_path / "forms" / "intake.yaml"
    form.write_text(
        form.read_text(encoding="utf-8").replace("kind: phone", "kind: fone", 1), encoding="utf-8"
    )
    monkeypatch.setenv("XINFANG_CONFIG_DIR", str(tmp_path))
    assert main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert "phone" in err and "fone" in err


def test_masking_helpers() -> None:
    assert "13812345678" not in mask_text("我的电话 138 1234 5678，请回电")
    assert "5678" not in mask_text("+86 13812345678")
    assert "110101199003071234" not in mask_text("身份证 110101199003071234")
    assert mask_id("o6_bmjrPTlm6_2sgVt7hMZOPfL2M") == mask_id("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    assert "o6_bmj" not in mask_id("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")


def test_log_lines_never_carry_personal_data(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", json=True)
    log = structlog.get_logger("test")
    log.info(
        "citizen wrote 13812345678",
        address=Address("wechat", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"),
        openid="o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
        name="张三",
        phone="13812345678",
        text="我住在幸福路12号，电话13812345678",
        nested={"phone": "13912345678", "note": "call 13912345678"},
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    for secret in ("13812345678", "13912345678", "o6_bmjrPTlm6", "张三", "幸福路"):
        assert secret not in line, secret
    assert record["address"].startswith("wechat:id:")
    assert record["level"] == "info"
