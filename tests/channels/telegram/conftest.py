"""Fixtures for the Telegram channel tests: the fake Bot API and an app wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import Services, build_services, create_app
from bot.settings import Settings
from bot.storage.db import Database
from tests.fakes_telegram import TOKEN, FakeTelegram

SECRET = "s3cret-token_for-tests"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """A running fake Bot API."""
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def make_settings(db: Database, db_url: str, tmp_path: Path, fake: FakeTelegram) -> Any:
    """Settings for a process talking to the fake (over the test database)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": db_url,
            "data_dir": tmp_path / "data",
            "telegram_token": TOKEN,
            "telegram_secret": SECRET,
            "telegram_api_base": fake.url,
            "outbox_poll_seconds": 0.05,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
async def services(make_settings: Any) -> Services:
    """Services with the Telegram channel (webhook mode)."""
    return build_services(make_settings())


@pytest.fixture
async def client(services: Services, aiohttp_client: Any) -> Any:
    """An HTTP client for the app, without the background outbox worker."""
    return await aiohttp_client(create_app(services, run_worker=False))
