"""Credentials over HTTP: read-only and expired API tokens, the console's own password
change, the forced change after a reset, and lockout times in the office's time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.app import Services, create_app
from bot.storage.tables import api_tokens, audit_log
from tests.web.api_support import ZJJ, file_case
from tests.web.conftest import PASSWORD, log_in

NEWER = "lanterns over the west lake"


async def test_read_token_reads_and_every_change_is_403(client: Any, services: Services) -> None:
    number = await file_case(services, ZJJ)
    read = await services.accounts.issue_token("zjj", "screen", scope="read")
    write = await services.accounts.issue_token("zjj", "sync")
    auth = {"Authorization": f"Bearer {read}"}
    assert (await client.get("/api/v1/cases", headers=auth)).status == 200
    assert (await (await client.get("/api/v1/me", headers=auth)).json())["scope"] == "read"
    assert (await client.get(f"/api/v1/cases/{number}", headers=auth)).status == 200
    for path, body in (
        (f"/api/v1/cases/{number}/actions/accept", {}),
        (f"/api/v1/cases/{number}/actions/note", {"text": "备注"}),
        ("/api/v1/deliveries/retry", {"ids": [1]}),
    ):
        refused = await client.post(path, json=body, headers=auth)
        assert refused.status == 403, path
        assert (await refused.json())["error"] == "read_only_token"
    detail = await client.get(f"/api/v1/cases/{number}", headers=auth)
    assert (await detail.json())["status"] == "submitted"  # nothing changed
    done = await client.post(
        f"/api/v1/cases/{number}/actions/accept",
        json={},
        headers={"Authorization": f"Bearer {write}"},
    )
    assert done.status == 200
    async with services.db.read() as conn:
        details = (
            await conn.execute(
                select(audit_log.c.detail).where(audit_log.c.action == "access.refused")
            )
        ).scalars()
        assert {d["reason"] for d in details} == {"token_scope"}


async def test_expired_token_is_401_with_its_reason(client: Any, services: Services) -> None:
    token = await services.accounts.issue_token("admin", "old")
    async with services.db.transaction() as conn:
        past = datetime.now(UTC) - timedelta(minutes=1)
        await conn.execute(update(api_tokens).values(expires_at=past))
    answer = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 401
    body = await answer.json()
    assert body["error"] == "token_expired" and "expired" in body["detail"]
    unknown = await client.get("/api/v1/me", headers={"Authorization": "Bearer xft_nothing"})
    assert (await unknown.json())["error"] == "invalid_token"


async def test_console_password_change_ends_the_other_sessions(
    services: Services, aiohttp_client: Any
) -> None:
    app = create_app(services, run_worker=False)
    me = await log_in(await aiohttp_client(app), "zjj")
    elsewhere = await log_in(await aiohttp_client(app), "zjj")
    page = await me.client.get("/staff/password")
    assert page.status == 200 and "当前密码" in await page.text()
    wrong = await me.post("/staff/password", {"current": "nope", "new": NEWER, "again": NEWER})
    assert wrong.status == 422 and "当前密码不正确" in await wrong.text()
    common = await me.post(
        "/staff/password", {"current": PASSWORD, "new": "password1234", "again": "password1234"}
    )
    assert common.status == 422 and "常见密码" in await common.text()
    done = await me.post("/staff/password", {"current": PASSWORD, "new": NEWER, "again": NEWER})
    assert done.status == 303 and done.headers["Location"] == "/staff/"
    assert (await me.client.get("/staff/cases", allow_redirects=False)).status == 200
    gone = await elsewhere.client.get("/staff/cases", allow_redirects=False)
    assert gone.status == 302 and gone.headers["Location"].startswith("/staff/login")
    assert (await services.accounts.authenticate("zjj", NEWER)).login == "zjj"


async def test_after_a_reset_only_the_password_form_is_reachable(
    client: Any, services: Services
) -> None:
    await services.accounts.reset_password("zjj", "given by the admin today", actor="cli:root")
    staff = await log_in(client, "zjj", "given by the admin today")
    for path in ("/staff/", "/staff/cases"):
        answer = await client.get(path, allow_redirects=False)
        assert answer.status == 303 and answer.headers["Location"] == "/staff/password", path
    api = await client.get("/api/v1/me", allow_redirects=False)  # the console's scripts
    assert api.status == 403 and (await api.json())["error"] == "password_change_required"
    form = await client.get("/staff/password")
    assert "管理员重置了您的密码" in await form.text()
    changed = await staff.post(
        "/staff/password", {"current": "given by the admin today", "new": NEWER, "again": NEWER}
    )
    assert changed.status == 303
    assert (await client.get("/staff/cases", allow_redirects=False)).status == 200


async def test_lockout_is_shown_in_office_time(client: Any, services: Services) -> None:
    for _ in range(services.settings.staff_max_failed_logins):
        await client.post("/staff/login", data={"login": "zjj", "password": "wrong guess"})
    locked = await client.post("/staff/login", data={"login": "zjj", "password": PASSWORD})
    assert locked.status == 429
    page = await locked.text()
    assert "UTC" not in page
    shown = re.search(r"锁定至 (\d{4}-\d\d-\d\d \d\d:\d\d)", page)
    assert shown is not None
    until = datetime.strptime(shown.group(1), "%Y-%m-%d %H:%M").replace(
        tzinfo=ZoneInfo(services.settings.timezone)
    )
    expected = datetime.now(UTC) + timedelta(minutes=services.settings.staff_lockout_minutes)
    assert abs(until - expected) < timedelta(minutes=2)  # the same instant, in Beijing time
