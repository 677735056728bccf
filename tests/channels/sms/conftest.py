"""Fixtures: the fake Tencent Cloud SMS API and settings of a process pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import Settings
from bot.storage.db import Database
from tests.conftest import CONFIG_DIR
from tests.fakes_sms import SDK_APP_ID, SECRET_ID, SECRET_KEY, FakeSms

PUBLIC_URL = "https://xinfang.example.gov.cn"  # the origin config/sms.yaml's texts name
SECRET = "x" * 40
CALLBACK_TOKEN = "sms-callback-token-0123456789"
MOBILE = "+8613800138000"


def sms_yaml() -> dict[str, Any]:
    """config/sms.yaml as shipped."""
    return dict(yaml.safe_load((CONFIG_DIR / "sms.yaml").read_text(encoding="utf-8")))


@pytest.fixture
async def fake() -> AsyncIterator[FakeSms]:
    """A running fake whose approved templates are config/sms.yaml's."""
    server = FakeSms.from_config(sms_yaml())
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def make_settings(db: Database, db_url: str, tmp_path: Path, fake: FakeSms) -> Any:
    """Settings for a process talking to the fake (over the test database)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": db_url,
            "data_dir": tmp_path / "data",
            "config_dir": CONFIG_DIR,
            "public_url": PUBLIC_URL,
            "secret_key": SECRET,
            "sms_secret_id": SECRET_ID,
            "sms_secret_key": SECRET_KEY,
            "sms_sdk_app_id": SDK_APP_ID,
            "sms_endpoint": fake.url,
            "sms_callback_token": CALLBACK_TOKEN,
            "outbox_poll_seconds": 0.05,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make
