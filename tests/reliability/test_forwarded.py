"""Behind the reverse proxy: per-client limits use X-Forwarded-For, from trusted proxies only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.app import build_services, create_app
from bot.settings import Settings, SettingsError, load_settings
from bot.web.forwarded import parse_networks


async def client_for(aiohttp_client: Any, tmp_path: Path, trusted: str) -> Any:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
        data_dir=tmp_path / "data",
        web_rate_per_ip_per_minute=2,
        trusted_proxies=trusted,
    )
    return await aiohttp_client(create_app(build_services(settings), run_worker=False))


async def say_from(client: Any, forwarded_for: str) -> int:
    """A new browser session (fresh cookie) sending one message through the proxy."""
    client.session.cookie_jar.clear()
    headers = {"X-Forwarded-For": forwarded_for}
    async with client.get("/chat", headers=headers) as resp:
        assert resp.status == 200
    async with client.post(
        "/chat/api/messages", json={"client_id": "c1234567", "text": "帮助"}, headers=headers
    ) as resp:
        return int(resp.status)


async def test_citizens_behind_a_trusted_proxy_are_limited_one_by_one(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await client_for(aiohttp_client, tmp_path, "127.0.0.1/32, 10.0.0.0/8")
    # two citizens behind the proxy: each has the whole per-address allowance
    assert [await say_from(client, "203.0.113.7") for _ in range(2)] == [200, 200]
    assert [await say_from(client, "198.51.100.9, 10.1.2.3") for _ in range(2)] == [200, 200]
    assert await say_from(client, "203.0.113.7") == 429


async def test_forwarded_for_from_anyone_else_is_ignored(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await client_for(aiohttp_client, tmp_path, "")
    # a client inventing addresses still counts as itself
    statuses = [await say_from(client, f"203.0.113.{n}") for n in range(3)]
    assert statuses == [200, 200, 429]


def test_a_bad_proxy_entry_names_the_variable() -> None:
    assert [str(n) for n in parse_networks("10.0.0.0/8, 127.0.0.1")] == [
        "10.0.0.0/8",
        "127.0.0.1/32",
    ]
    with pytest.raises(SettingsError, match="XINFANG_TRUSTED_PROXIES"):
        load_settings(trusted_proxies="10.0.0.0/8, nginx")
