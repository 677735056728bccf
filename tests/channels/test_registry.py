"""The channel registry: every list of channels derives from it, and every registered
channel passes the same conformance checks (name, labels, settings that turn it on, an
outbound channel the outbox can use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest

from bot.__main__ import main
from bot.channels import registry
from bot.channels.base import Channel
from bot.channels.spec import ChannelSpec
from bot.domain.arrival import ARRIVAL_CHANNELS
from bot.messages import Capabilities
from bot.settings import Settings
from bot.staff import labels
from bot.web import api_models, console_cases
from tests.conftest import CONFIG_DIR

# the settings that turn each channel on, by environment name (as check-config names them)
TURN_ON = {
    "XINFANG_WECHAT_TOKEN": "wechat-token",
    "XINFANG_WECHAT_APP_ID": "wx-app",
    "XINFANG_TELEGRAM_TOKEN": "123:abc",
    "XINFANG_SMS_SECRET_ID": "AKID",
    "XINFANG_SMS_SECRET_KEY": "key",
    "XINFANG_SMS_SDK_APP_ID": "1400000001",
}


def settings_for(spec: ChannelSpec, **extra: Any) -> Settings:
    values = {name.removeprefix("XINFANG_").lower(): TURN_ON[name] for name in spec.settings}
    return Settings(_env_file=None, config_dir=CONFIG_DIR, **values, **extra)  # type: ignore[call-arg]


def test_names_are_unique_and_every_list_derives_from_the_registry() -> None:
    names = [spec.name for spec in registry.CHANNELS]
    assert len(names) == len(set(names)) and "sms" in names
    assert tuple(names) == registry.NAMES
    arrivals = set(ARRIVAL_CHANNELS)  # 信、访、电: registered by staff, not a channel package
    assert set(labels.CHANNELS) == set(names) | arrivals
    assert console_cases.CHANNELS == registry.NAMES
    assert set(get_args(api_models.Channel)) == set(names) | arrivals


@pytest.mark.parametrize("spec", registry.CHANNELS, ids=lambda s: s.name)
def test_conformance(spec: ChannelSpec, tmp_path: Path) -> None:
    zh, en = spec.labels
    assert zh and en and spec.label("en") == en and spec.label("zh") == zh
    assert isinstance(spec.capabilities, Capabilities)
    off = Settings(_env_file=None, config_dir=CONFIG_DIR)  # type: ignore[call-arg]
    assert spec.enabled(off) == (not spec.settings), "credentials turn a channel on"
    on = settings_for(spec, data_dir=tmp_path)
    assert spec.enabled(on)
    for name in spec.settings:  # each named setting is needed
        partial = {n.removeprefix("XINFANG_").lower(): TURN_ON[n] for n in spec.settings}
        partial[name.removeprefix("XINFANG_").lower()] = ""
        unset = Settings(_env_file=None, config_dir=CONFIG_DIR, **partial)  # type: ignore[call-arg]
        assert not spec.enabled(unset), name
    channel = spec.build(on, None)  # type: ignore[arg-type]  # building does no I/O
    assert isinstance(channel, Channel)
    assert channel.name == spec.name


def test_check_config_names_every_channel_on_or_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XINFANG_CONFIG_DIR", str(CONFIG_DIR))
    monkeypatch.setenv("XINFANG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XINFANG_TELEGRAM_TOKEN", "123:abc")  # the token alone turns it on
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "channel telegram: on" in out and "channel web: on" in out
    assert "channel wechat: off (set XINFANG_WECHAT_TOKEN, XINFANG_WECHAT_APP_ID)" in out
    assert "channel sms: off (set XINFANG_SMS_SECRET_ID" in out
    assert "sms.yaml ok" in out
