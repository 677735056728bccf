"""Schemathesis drives the running API from its own OpenAPI document.

Every operation gets generated requests, valid and invalid (schemathesis 4 runs both
modes and all its checks by default): no 5xx, every status documented, every body
matching its schema, auth enforced. It runs as an admin and as a department handler,
against a real server on 127.0.0.1 (SQLite, in a thread of this process), with a fixed
Hypothesis seed and a small example budget so CI stays quick and reproducible.
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bot.app import build_services, create_app
from bot.settings import Settings
from bot.staff.broadcasts import Audience
from bot.storage import attachments, documents
from bot.web.api import ROUTES
from bot.web.openapi import document
from tests.web.api_support import RSJ, ZJJ, db_state, file_case
from tests.web.conftest import ACCOUNTS, CONFIG_DIR, PASSWORD

MAX_EXAMPLES = 20  # per operation and role
schema = schemathesis.openapi.from_dict(document(ROUTES))
# Valid requests may still be refused by the state of the data (409: the case's status
# does not allow the action; 404: a generated tracking number names no case), so
# "every valid request succeeds" does not hold; every other check does.
EXCLUDED: list[CheckFunction] = [positive_data_acceptance]


@dataclass
class Live:
    """The running server and what it holds."""

    base_url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    cases: list[str] = field(default_factory=list)
    attachment: int = 0
    document: int = 0  # the 受理告知书 of the first case
    broadcast: int = 0


class Server:
    """The application served from a thread with its own event loop."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.live = Live()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    def start(self) -> Live:
        """Start the server and fill it; returns where it listens and who may call it."""
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=120)
        return self.live

    def stop(self) -> None:
        """Shut the application down and end the thread."""
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    async def _start(self) -> None:
        settings_ = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=f"sqlite+aiosqlite:///{self.root / 'api.sqlite3'}",
            data_dir=self.root / "data",
            config_dir=CONFIG_DIR,
        )
        services = build_services(settings_)
        self.runner = web.AppRunner(create_app(services, run_worker=False))
        await self.runner.setup()  # migrates the database
        for login, (role, departments) in ACCOUNTS.items():
            await services.accounts.add(login, PASSWORD, role=role, departments=departments)
        for login in ("admin", "zjj"):
            self.live.tokens[login] = await services.accounts.issue_token(login, "schemathesis")
        for n, department in enumerate((ZJJ, ZJJ, RSJ, ZJJ)):
            self.live.cases.append(
                await file_case(services, department, user=f"citizen-{n}", request=f"事项{n}")
            )
        files = settings_.attachments_dir
        files.mkdir(parents=True, exist_ok=True)
        (files / "photo.jpg").write_bytes(b"\xff\xd8\xff photo")
        row, _, _ = await db_state(services, self.live.cases[0])
        async with services.db.transaction() as conn:
            self.live.attachment = await attachments.add(
                conn,
                contact_id=row.contact_id,
                kind="image",
                media_ref="photo.jpg",
                now=row.submitted_at,
                mime="image/jpeg",
                filename="照片.jpg",
                size=9,
            )
            await attachments.link_to_case(conn, [self.live.attachment], row.id)
        await services.casework.lifecycle.accept(self.live.cases[0], actor="system")
        async with services.db.read() as conn:
            (issued,) = await documents.of_case(conn, row.id)
        self.live.document = issued.id
        admin = next(s for s in await services.accounts.all() if s.login == "admin").member()
        self.live.broadcast = await services.broadcasts.start(Audience("all"), "通知", admin)
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.live.base_url = f"http://{host}:{port}"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A running API with seeded cases, an attachment, a broadcast and two tokens."""
    server = Server(tmp_path_factory.mktemp("api-live"))
    try:
        yield server.start()
    finally:
        server.stop()


def _known(case: Any, live: Live) -> None:
    """Most generated ids are swapped for ones that exist, so handlers run past the 404.

    Only in requests meant to be valid: a negative case must stay as generated."""
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return
    params = case.path_parameters or {}
    for name, known in (
        ("tracking_no", live.cases),
        ("attachment_id", [live.attachment]),
        ("document_id", [live.document]),
        ("broadcast_id", [live.broadcast]),
    ):
        if name in params:
            pick = zlib.crc32(str(params[name]).encode()) % (len(known) + 1)
            if pick < len(known):
                params[name] = known[pick]


@pytest.mark.parametrize("login", ["admin", "zjj"])
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case: Any, live: Live, login: str) -> None:
    _known(case, live)
    case.call_and_validate(
        base_url=live.base_url,
        headers={"Authorization": f"Bearer {live.tokens[login]}"},
        excluded_checks=EXCLUDED,
    )
