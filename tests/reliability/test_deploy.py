"""The deployment files, checked statically (no Docker engine runs in CI or here).

docker-compose.yml, Dockerfile, deploy/nginx.conf and deploy/xinfang.env.example must
agree with each other and with the code: services, health checks, the volume, the env
file, start order, two replicas behind the proxy, and settings the bot knows.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from bot.__main__ import parser
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / "deploy/xinfang.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_services_start_in_order_with_health_checks() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "bot", "proxy"}
    for name in ("db", "bot", "proxy"):
        test = services[name]["healthcheck"]["test"]
        assert test and test[0] in ("CMD", "CMD-SHELL"), name
    bot, migrate, proxy = services["bot"], services["migrate"], services["proxy"]
    assert bot["deploy"]["replicas"] == 2
    assert bot["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert proxy["depends_on"] == {"bot": {"condition": "service_healthy"}}
    # migrations run once, before the replicas, which only check the schema
    assert migrate["command"] == ["migrate", "upgrade"]
    assert bot["environment"]["XINFANG_AUTO_MIGRATE"] == "false"
    assert "ports" not in bot  # replicas are reached through the proxy only
    for name in ("migrate", "bot"):
        parser().parse_args(services[name]["command"])  # a real xinfang command
    assert "/readyz" in " ".join(bot["healthcheck"]["test"])


def test_volumes_and_env_file() -> None:
    doc = compose()
    services = doc["services"]
    assert set(doc["volumes"]) == {"pgdata", "attachments"}
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert "attachments:/data" in services["bot"]["volumes"]
    for name in ("db", "migrate", "bot"):
        assert services[name]["env_file"] == ["deploy/xinfang.env"], name
    env = env_example()
    known = {f"XINFANG_{name.upper()}" for name in Settings.model_fields}
    unknown = {k for k in env if k.startswith("XINFANG_")} - known
    assert not unknown, f"settings the bot does not know: {unknown}"
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(env)
    url = env["XINFANG_DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://") and "@db:5432/" in url
    assert env["POSTGRES_PASSWORD"] in url and url.endswith("/" + env["POSTGRES_DB"])
    Settings(_env_file=None, **{k[8:].lower(): v for k, v in env.items() if k in known})  # type: ignore[call-arg]
    # SIGKILL only after the bot's own shutdown grace
    grace = int(services["bot"]["stop_grace_period"].rstrip("s"))
    assert grace > float(env["XINFANG_SHUTDOWN_TIMEOUT_SECONDS"])


def test_proxy_balances_over_the_replicas() -> None:
    services = compose()["services"]
    mount = services["proxy"]["volumes"][0]
    source, target = mount.split(":")[:2]
    assert target == "/etc/nginx/conf.d/default.conf"
    conf = (ROOT / source).read_text()
    assert conf.count("{") == conf.count("}")
    port = re.search(r"EXPOSE (\d+)", (ROOT / "Dockerfile").read_text())
    assert port is not None
    assert re.search(rf"server bot:{port.group(1)} resolve;", conf)
    assert re.search(r"location = /chat/api/events \{[^}]*proxy_buffering off;", conf)
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in conf
    assert re.search(r"location = /metrics \{\s*deny all;", conf)


def test_dockerfile_builds_what_the_project_declares() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("# syntax=docker/dockerfile:1")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = re.search(r"FROM python:(\d+)\.(\d+)", dockerfile)
    required = re.search(r">=(\d+)\.(\d+)", project["requires-python"])
    assert python and required
    assert tuple(map(int, python.groups())) >= tuple(map(int, required.groups()))
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), path
    assert 'ENTRYPOINT ["xinfang"]' in dockerfile and "xinfang" in project["scripts"]
    assert "/healthz" in dockerfile and "USER xinfang" in dockerfile
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert not ignored & {"bot", "config", "pyproject.toml", "README.md"}
    assert {".git", ".venv", "data", "deploy", ".env"} <= ignored
