"""Fixtures for the staff console and API tests: an app, accounts of every role, logins."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import Services, build_services, create_app
from bot.settings import Settings
from bot.staff.access import Role
from bot.storage.db import Database

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
PASSWORD = "correct horse battery"
# login -> (role, departments): a handler of the Shangcheng housing bureau, one of the
# labour bureau, and one account of every other role.
ACCOUNTS: dict[str, tuple[Role, tuple[str, ...]]] = {
    "admin": (Role.ADMIN, ()),
    "duban": (Role.SUPERVISOR, ()),
    "zjj": (Role.HANDLER, ("330102-zjj",)),
    "rsj": (Role.HANDLER, ("330106-rsj",)),
    "viewer": (Role.VIEWER, ()),
}
_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


@pytest.fixture
def make_settings(db: Database, db_url: str, tmp_path: Path) -> Any:
    """Settings over the test database."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": db_url,
            "data_dir": tmp_path / "data",
            "config_dir": CONFIG_DIR,
            "outbox_poll_seconds": 0.05,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
async def services(make_settings: Any) -> Services:
    """Services with one account per role (password PASSWORD)."""
    built = build_services(make_settings())
    for login, (role, departments) in ACCOUNTS.items():
        await built.accounts.add(login, PASSWORD, role=role, departments=departments)
    return built


@pytest.fixture
async def client(services: Services, aiohttp_client: Any) -> Any:
    """An HTTP client for the app, without the background outbox worker."""
    return await aiohttp_client(create_app(services, run_worker=False))


@dataclass
class Staff:
    """A logged-in console client: the HTTP client and the session's CSRF token."""

    client: Any
    csrf: str

    async def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        """A console form POST with the CSRF token."""
        return await self.client.post(
            path, data={"_csrf": self.csrf, **(data or {})}, allow_redirects=False, **kw
        )


async def log_in(client: Any, login: str, password: str = PASSWORD) -> Staff:
    """Log in through the login form; returns the client with its CSRF token."""
    response = await client.post(
        "/staff/login", data={"login": login, "password": password}, allow_redirects=False
    )
    assert response.status == 303, await response.text()
    page = await client.get("/staff/login", allow_redirects=True)
    match = _CSRF.search(await page.text())
    assert match, "logged-in pages carry the CSRF token"
    return Staff(client, match.group(1))
