"""Broadcast pages: who is left out and why, approval by a second account, scheduled
sending, cancelled counts in the list (console and API)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.app import Services
from bot.messages import Address
from bot.storage import contacts
from bot.storage.tables import outbox
from tests.web.api_support import RSJ, api_for, file_case
from tests.web.conftest import log_in


async def _citizens(services: Services) -> None:
    """Three petitioners of Xihu: one reachable, one who sent 退订, one who blocked the bot."""
    for user in ("ok", "quiet", "gone"):
        await file_case(services, RSJ, user=user, request=f"{user}的诉求")
    async with services.db.transaction() as conn:
        for user, values in (
            ("quiet", {"broadcast_opt_out": True}),
            ("gone", {"reachable": False}),
        ):
            found = await contacts.find(conn, Address("web", user))
            assert found is not None
            await contacts.update_contact(conn, found.id, **values)


async def _queued(services: Services) -> int:
    async with services.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(outbox)) or 0)


def _cell(page: str, attr: str) -> str:
    found = re.search(rf'{attr}">(\d+)</td>', page)
    assert found, attr
    return found.group(1)


async def test_preview_says_who_is_left_out_and_why(client: Any, services: Services) -> None:
    await _citizens(services)
    staff = await log_in(client, "duban")
    page = await (
        await staff.post(
            "/staff/broadcasts/preview", {"kind": "filter", "region": "330106", "text": "停水通知"}
        )
    ).text()
    assert _cell(page, 'id="recipient-total') == "1"
    assert "已退订群发（退订 / TD）" in page and "无法送达（已取消关注或屏蔽）" in page
    assert _cell(page, 'data-reason="unsubscribed') == "1"
    assert _cell(page, 'data-reason="unreachable') == "1"
    assert _cell(page, 'data-reason="channel_off') == "0"
    assert 'id="needs-approval"' not in page
    api = await api_for(client, services, "duban")
    body = await (
        await api.post(
            "/api/v1/broadcasts/preview", {"audience": {"kind": "filter", "regions": ["330106"]}}
        )
    ).json()
    assert body["left_out"] == {"channel_off": 0, "unreachable": 1, "unsubscribed": 1}
    assert body["needs_approval"] is False


async def test_everyone_needs_a_second_account_in_the_console(
    client: Any, services: Services
) -> None:
    await _citizens(services)
    duban = await log_in(client, "duban")
    preview = await (
        await duban.post("/staff/broadcasts/preview", {"kind": "all", "text": "开放日通知"})
    ).text()
    assert 'id="needs-approval"' in preview and "提交审批" in preview
    sent = await duban.post("/staff/broadcasts", {"kind": "all", "text": "开放日通知"})
    assert sent.status == 303
    url = sent.headers["Location"]
    page = await (await client.get(url)).text()
    assert "待审批" in page and 'id="own-broadcast"' in page and 'id="approve"' not in page
    assert await _queued(services) == 0
    # posting the approval anyway is refused for the same account
    refused = await duban.post(url + "/approve")
    assert refused.status == 303
    assert "不能批准自己提交的群发" in await (await client.get(url)).text()
    assert await _queued(services) == 0
    listing = await (await client.get("/staff/broadcasts")).text()
    assert 'id="awaiting"' in listing
    admin = await log_in(client, "admin")
    page = await (await client.get(url)).text()
    assert 'id="approve"' in page and 'id="reject"' in page
    assert (await admin.post(url + "/approve")).status == 303
    page = await (await client.get(url)).text()
    assert "已批准。" in page and 'id="bc-decided"' in page and "admin" in page
    assert await _queued(services) == 1


async def test_a_scheduled_broadcast_and_cancelled_counts(client: Any, services: Services) -> None:
    await _citizens(services)
    staff = await log_in(client, "duban")
    office = ZoneInfo(services.settings.timezone)
    later = (services.casework.clock() + timedelta(days=1)).astimezone(office)
    when = later.strftime("%Y-%m-%dT%H:%M")
    form = {"kind": "filter", "region": "330106", "text": "明早停水", "send_at": when}
    preview = await (await staff.post("/staff/broadcasts/preview", form)).text()
    assert 'id="scheduled-for"' in preview and later.strftime("%Y-%m-%d %H:%M") in preview
    sent = await staff.post("/staff/broadcasts", form)
    page = await (await client.get(sent.headers["Location"])).text()
    assert "定时待发" in page and await _queued(services) == 0
    past = {**form, "send_at": "2020-01-01T09:00"}
    refused = await staff.post("/staff/broadcasts/preview", past)
    assert refused.status == 400 and "早于现在" in await refused.text()
    # a broadcast sent now, then cancelled: the list counts its cancelled messages
    now = await staff.post("/staff/broadcasts", {"kind": "filter", "region": "330106", "text": "x"})
    url = now.headers["Location"]
    assert (await staff.post(url + "/cancel")).status == 303
    listing = await (await client.get("/staff/broadcasts")).text()
    row = re.search(rf"<td>{url.rsplit('/', 1)[1]}</td>.*?</tr>", listing, re.S)
    assert row is not None and '<td class="bc-cancelled">1</td>' in row.group(0)
    assert "<th>已取消</th>" in listing
