"""The case timeline shows, for each event that told the petitioner something, the state
of that notice: queued, sent, scheduled (回访), failed with the reason, cancelled."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from bot.app import Services
from tests.web.api_support import ZJJ, api_for, file_case
from tests.web.conftest import log_in
from tests.web.delivery_support import TELEGRAM_403, case_rows, set_row


def _notices(page: str) -> dict[int, tuple[str, str]]:
    """Outbox id -> (state, the line's text) of every notice on a case page."""
    found = re.findall(r'<li id="notice-(\d+)" data-state="(\w+)">(.*?)</li>', page, re.S)
    return {int(i): (state, " ".join(text.split())) for i, state, text in found}


async def test_each_notice_shows_its_delivery_state(client: Any, services: Services) -> None:
    number = await file_case(services, ZJJ)
    admin = await api_for(client, services, "admin")
    await admin.act(number, "accept")
    await log_in(client, "zjj")  # a handler: sees the states, has no delivery page
    page = await (await client.get(f"/staff/cases/{number}")).text()
    [accepted] = await case_rows(services, number)
    state, line = _notices(page)[accepted]
    assert state == "queued" and "受理告知" in line and "排队中" in line

    await set_row(services, accepted, status="sent", attempts=1, sent_at=datetime.now(UTC))
    await admin.act(number, "assign", {})
    await admin.act(number, "answer", {"outcome": "supported", "text": "已责令补发工资。"})
    _, assigned, answered, followup = await case_rows(services, number)
    await set_row(
        services, answered, channel="telegram", status="failed", attempts=1, last_error=TELEGRAM_403
    )
    await set_row(services, assigned, status="cancelled")
    page = await (await client.get(f"/staff/cases/{number}")).text()
    notices = _notices(page)
    assert notices[accepted][0] == "sent" and "已发出" in notices[accepted][1]
    assert notices[assigned][0] == "cancelled" and "交办告知" in notices[assigned][1]
    state, line = notices[answered]
    assert state == "failed" and "答复" in line and "发送失败" in line
    assert "信访人已屏蔽机器人或停用账号" in line and "<code>403</code>" in line
    assert "/staff/deliveries" not in line  # no link for a role without the delivery page
    state, line = notices[followup]
    assert state == "scheduled" and "回访" in line and "待发送（预约）" in line
    # the answer event carries both its notices (答复 and the 回访), in order
    answer_event = page.split(f'<li id="notice-{answered}"')[0].rsplit('<li class="public">', 1)
    assert "<strong>答复</strong>" in answer_event[1]
    assert page.index(f'id="notice-{answered}"') < page.index(f'id="notice-{followup}"')

    await log_in(client, "duban")
    page = await (await client.get(f"/staff/cases/{number}")).text()
    assert f'href="/staff/deliveries?case={number}"' in _notices_html(page, answered)


def _notices_html(page: str, outbox_id: int) -> str:
    return page.split(f'<li id="notice-{outbox_id}"')[1].split("</li>")[0]


async def test_the_api_case_detail_shows_each_events_deliveries(
    client: Any, services: Services
) -> None:
    number = await file_case(services, ZJJ)
    admin = await api_for(client, services, "admin")
    await admin.act(number, "accept", {"message": "请保持电话 13912345678 畅通"})
    await admin.act(number, "note", {"text": "内部备注"})
    [accepted] = await case_rows(services, number)
    await set_row(services, accepted, status="failed", attempts=3, last_error="HTTP 502 from x")

    detail = json.loads(await (await admin.get(f"/api/v1/cases/{number}")).text())
    by_kind = {e["kind"]: e for e in detail["timeline"]}
    assert by_kind["note"]["deliveries"] == []  # an internal note tells the citizen nothing
    [notice] = by_kind["accept"]["deliveries"]
    assert notice["id"] == accepted and notice["event_id"] == by_kind["accept"]["id"]
    assert (notice["state"], notice["notice"], notice["reason"]) == (
        "failed",
        "accepted",
        "network",
    )
    assert "13912345678" in notice["text"]  # admins have case.pii

    viewer = await api_for(client, services, "viewer")
    shown = json.loads(await (await viewer.get(f"/api/v1/cases/{number}")).text())
    [masked] = next(e for e in shown["timeline"] if e["kind"] == "accept")["deliveries"]
    assert masked["text"] is None and masked["state"] == "failed"  # no case.pii: no text
    assert "13912345678" not in json.dumps(masked)
