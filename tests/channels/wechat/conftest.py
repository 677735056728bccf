"""Fixtures: a fake WeChat API, the webhook mounted on a test server, a WeChat signer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.app import build_services
from bot.channels.wechat import WeChatChannel, WeChatWebhook
from bot.channels.wechat_api import WeChatApi
from bot.channels.wechat_config import load_config
from bot.intake import Intake
from bot.settings import load_settings
from bot.storage.db import Database
from bot.storage.tables import attachments, inbound_messages, outbox
from tests.channels.wechat.payloads import AES_KEY, APP_ID, TOKEN, WeChatSide
from tests.conftest import CONFIG_DIR
from tests.fakes_wechat import FakeWeChat


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    """A running fake WeChat API."""
    server = FakeWeChat(app_id=APP_ID)
    await server.start()
    yield server
    await server.stop()


def make_api(db: Database, fake: FakeWeChat, timeout: float = 5.0) -> WeChatApi:
    """An API client pointed at the fake."""
    return WeChatApi(
        db,
        app_id=fake.app_id,
        app_secret=fake.app_secret,
        api_base=fake.url,
        timeout=timeout,
    )


@dataclass
class Rig:
    """Everything a webhook test touches."""

    db: Database
    fake: FakeWeChat
    intake: Intake
    hook: WeChatWebhook
    channel: WeChatChannel
    client: TestClient[Any, Any]
    side: WeChatSide

    async def post(self, xml: str, *, aes: bool | None = None, timestamp: int | None = None) -> Any:
        """POST one message as WeChat would; returns (status, body text)."""
        side = self.side if aes is None else WeChatSide(aes=aes)
        path, body = side.post(xml, timestamp)
        resp = await self.client.post(
            path, data=body.encode(), headers={"Content-Type": "text/xml"}
        )
        return resp.status, await resp.text()

    async def count(self, table: Any) -> int:
        async with self.db.read() as conn:
            return len((await conn.execute(select(table.c.id))).all())

    async def inbound_count(self) -> int:
        return await self.count(inbound_messages)

    async def outbox_texts(self) -> list[str]:
        async with self.db.read() as conn:
            rows = (await conn.execute(select(outbox.c.payload).order_by(outbox.c.id))).all()
        return [r.payload["text"] for r in rows]

    async def attachment_rows(self) -> list[Any]:
        async with self.db.read() as conn:
            return list((await conn.execute(select(attachments))).all())


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rig_factory(
    db: Database, fake: FakeWeChat, aiohttp_client: Any, tmp_path: Path
) -> AsyncIterator[RigFactory]:
    """Build a webhook test rig; keyword overrides go to WeChatWebhook."""
    hooks: list[WeChatWebhook] = []
    apis: list[WeChatApi] = []

    async def make(
        *, aes: bool = False, wrap: Callable[[Intake], Intake] | None = None, **overrides: Any
    ) -> Rig:
        services = build_services(load_settings(config_dir=CONFIG_DIR))
        intake = Intake(db, services.engine)
        if wrap is not None:
            intake = wrap(intake)
        api = make_api(db, fake)
        apis.append(api)
        config = load_config(CONFIG_DIR)
        channel = WeChatChannel(api, config, template_id=fake.template_id)
        kwargs: dict[str, Any] = {
            "token": TOKEN,
            "app_id": APP_ID,
            "aes_key": AES_KEY,
            # most tests post in plaintext mode as well: the migration period's setting
            "allow_plaintext": True,
            "attachments_dir": tmp_path / "attachments",
            "max_upload_bytes": 1_000_000,
            **overrides,
        }
        hook = WeChatWebhook(intake, db, api, config, **kwargs)
        hooks.append(hook)
        app = web.Application()
        hook.add_routes(app)
        client = await aiohttp_client(app)
        return Rig(db, fake, intake, hook, channel, client, WeChatSide(aes=aes))

    yield make
    for hook in hooks:
        await hook.shutdown()
    for api in apis:
        await api.close()
