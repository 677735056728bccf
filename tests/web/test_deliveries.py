"""The delivery problems page and API: reasons, filters, masking, retry and cancel, audit."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from bot.app import Services
from bot.domain.tracking import format_tracking_no
from bot.logging import mask_id
from bot.storage.tables import audit_log
from tests.web.api_support import api_for
from tests.web.conftest import log_in
from tests.web.delivery_support import OPENID, REPLY, Scene, make_scene, row

FLASH = re.compile(r'<p class="flash (\w+)"[^>]*>(.*?)</p>', re.S)


def _shown(page: str) -> set[int]:
    """The outbox ids listed on a page."""
    return {int(i) for i in re.findall(r'<tr id="delivery-(\d+)"', page)}


async def _page(client: Any, query: str = "") -> str:
    response = await client.get("/staff/deliveries" + query)
    assert response.status == 200
    return str(await response.text())


async def _audit(services: Services) -> list[Any]:
    async with services.db.read() as conn:
        found = await conn.execute(
            select(audit_log)
            .where(audit_log.c.action.in_(("outbox.retry", "outbox.cancel")))
            .order_by(audit_log.c.id)
        )
        return list(found)


async def test_the_page_lists_problems_with_readable_reasons(
    client: Any, services: Services
) -> None:
    scene = await make_scene(client, services)
    await log_in(client, "duban")
    page = await _page(client)
    assert _shown(page) == {scene.accepted, scene.reply, scene.blocked}
    assert 'id="count-failed">发送失败 2<' in page and 'id="count-stuck">滞留 1<' in page
    assert (
        f'href="/staff/cases/{scene.number}"' in page and format_tracking_no(scene.number) in page
    )
    assert "受理告知" in page and "工作人员回复" in page and "对话回复" in page
    # the reason in staff language, the platform's own code beside it
    assert "超出微信48小时客服消息时限" in page and "45015: response out of time limit" in page
    assert "发送超时未完成" in page and "telegram network: timed out" in page
    assert "信访人已屏蔽机器人或停用账号" in page and "telegram 403" in page
    assert "信访人已屏蔽或退订，重试很可能再次失败" in page and "无关联事项" in page
    # citizens only as pseudonyms; the text to supervisors (case.pii)
    assert OPENID not in page and "987654321" not in page and mask_id(OPENID) in page
    assert REPLY in page
    # a row being sent (stuck) can be retried, not cancelled
    reply_row = page.split(f'id="delivery-{scene.reply}"')[1].split("</tr>")[0]
    assert 'formaction="/staff/deliveries/retry"' in reply_row
    assert "/staff/deliveries/cancel" not in reply_row

    english = await _page(client, "?lang=en")
    assert "Outside WeChat&#39;s 48-hour window" in english and "Acceptance notice" in english


async def test_the_page_filters_by_state_channel_and_case(client: Any, services: Services) -> None:
    scene = await make_scene(client, services)
    await log_in(client, "admin")
    assert _shown(await _page(client, "?state=stuck")) == {scene.reply}
    assert _shown(await _page(client, "?state=failed")) == {scene.accepted, scene.blocked}
    assert _shown(await _page(client, "?channel=wechat")) == {scene.accepted}
    dashed = format_tracking_no(scene.number)
    assert _shown(await _page(client, f"?case={dashed}")) == {scene.accepted, scene.reply}
    unknown = await _page(client, "?case=XF0000")
    assert _shown(unknown) == set() and "没有该事项：XF0000" in unknown
    ignored = await _page(client, "?state=sent&channel=fax&page=x")  # unknown values dropped
    assert len(_shown(ignored)) == 3


async def test_retry_and_cancel_one_row_or_a_selection(client: Any, services: Services) -> None:
    scene = await make_scene(client, services)
    woken: list[bool] = []
    services.deliveries.on_requeued = lambda: woken.append(True)
    staff = await log_in(client, "duban")

    # the row's own button wins over ticked boxes
    done = await staff.post(
        "/staff/deliveries/retry",
        {"row": str(scene.accepted), "id": str(scene.blocked), "back": "state=failed&x=1"},
    )
    assert done.status == 303 and done.headers["Location"] == "/staff/deliveries?state=failed"
    flash = FLASH.search(await _page(client))
    assert flash and flash.groups() == ("ok", "已重新排队 1 条消息。")
    retried = await row(services, scene.accepted)
    assert (retried.status, retried.attempts) == ("pending", 1) and woken == [True]
    assert (await row(services, scene.blocked)).status == "failed"

    selection = [("_csrf", staff.csrf), ("id", str(scene.blocked)), ("id", str(scene.reply))]
    cancelled = await client.post("/staff/deliveries/cancel", data=selection, allow_redirects=False)
    assert cancelled.status == 303 and cancelled.headers["Location"] == "/staff/deliveries"
    flash = FLASH.search(await _page(client))
    assert flash and flash.group(1) == "error"  # one row could not be cancelled: said so
    assert "已取消 1 条消息" in flash.group(2) and "1 条未变更" in flash.group(2)
    assert f"#{scene.reply}" in flash.group(2)
    assert (await row(services, scene.blocked)).status == "cancelled"
    assert (await row(services, scene.reply)).status == "sending"

    nothing = await staff.post("/staff/deliveries/retry", {})
    flash = FLASH.search(await _page(client))
    assert nothing.status == 303 and flash and flash.group(2) == "请先勾选要处理的消息。"

    entries = await _audit(services)
    assert [(e.action, e.target, e.actor) for e in entries] == [
        ("outbox.retry", f"outbox:{scene.accepted}", "duban"),
        ("outbox.cancel", f"outbox:{scene.blocked}", "duban"),
    ]
    assert entries[0].case_id is not None and entries[1].case_id is None
    assert entries[0].detail == {"channel": "wechat", "previous_status": "failed", "via": "session"}
    assert entries[0].staff_id is not None and entries[0].ip


async def test_forms_without_the_csrf_token_change_nothing(client: Any, services: Services) -> None:
    scene = await make_scene(client, services)
    await log_in(client, "admin")
    for action in ("retry", "cancel"):
        refused = await client.post(
            f"/staff/deliveries/{action}", data={"row": str(scene.accepted)}, allow_redirects=False
        )
        assert refused.status == 303  # back to the page, with the reason
    assert (await row(services, scene.accepted)).status == "failed"
    assert await _audit(services) == []


async def _json(response: Any, status: int) -> Any:
    body = await response.text()
    assert response.status == status, body
    return json.loads(body)


async def test_the_api_lists_retries_and_cancels(client: Any, services: Services) -> None:
    scene = await make_scene(client, services)
    admin = await api_for(client, services, "admin")
    listing = await _json(await admin.get("/api/v1/deliveries"), 200)
    assert listing["total"] == 3 and listing["pages"] == 1
    assert listing["counts"] == {"failed": {"telegram": 1, "wechat": 1}, "stuck": {"web": 1}}
    by_id = {d["id"]: d for d in listing["items"]}
    wechat = by_id[scene.accepted]
    assert (wechat["state"], wechat["notice"], wechat["tracking_no"]) == (
        "failed",
        "accepted",
        scene.number,
    )
    assert (wechat["reason"], wechat["platform_code"]) == ("wechat_out_of_window", "45015")
    assert wechat["reason_text"].startswith("超出微信48小时") and wechat["event_id"]
    assert wechat["recipient"] == mask_id(OPENID) and OPENID not in json.dumps(listing)
    assert by_id[scene.reply]["reason"] == "lease_expired" and REPLY in by_id[scene.reply]["text"]
    blocked = by_id[scene.blocked]
    assert (blocked["reason"], blocked["reachable"]) == ("telegram_blocked", False)

    stuck = await _json(await admin.get("/api/v1/deliveries?state=stuck"), 200)
    assert [d["id"] for d in stuck["items"]] == [scene.reply]
    on_case = await admin.get("/api/v1/deliveries", params={"case": scene.number.lower()})
    assert {d["id"] for d in (await _json(on_case, 200))["items"]} == {scene.accepted, scene.reply}
    paged = await _json(await admin.get("/api/v1/deliveries?per_page=2&page=2"), 200)
    assert [d["id"] for d in paged["items"]] == [scene.accepted] and paged["pages"] == 2
    unknown = await _json(await admin.get("/api/v1/deliveries?case=XF2611210482735"), 422)
    assert unknown["fields"][0]["loc"] == ["query", "case"]

    retried = await _json(
        await admin.post("/api/v1/deliveries/retry", {"ids": [scene.accepted, 999999]}), 200
    )
    assert retried == {
        "action": "retry",
        "done": 1,
        "outcomes": [
            {"id": scene.accepted, "done": True, "status": "failed"},
            {"id": 999999, "done": False, "status": ""},
        ],
    }
    cancelled = await _json(
        await admin.post("/api/v1/deliveries/cancel", {"ids": [scene.accepted, scene.reply]}), 200
    )
    assert [(o["done"], o["status"]) for o in cancelled["outcomes"]] == [
        (True, "pending"),
        (False, "sending"),
    ]
    assert (await row(services, scene.accepted)).status == "cancelled"
    for bad in ({"ids": []}, {"ids": ["1"]}, {"ids": [0]}, {}):
        await _json(await admin.post("/api/v1/deliveries/retry", bad), 422)
    entries = await _audit(services)
    assert [(e.action, e.actor, e.detail["via"]) for e in entries] == [
        ("outbox.retry", "admin", "token"),
        ("outbox.cancel", "admin", "token"),
    ]


async def test_only_the_outbox_permission_reaches_deliveries(
    client: Any, services: Services
) -> None:
    scene: Scene = await make_scene(client, services)
    for login in ("zjj", "viewer"):
        api = await api_for(client, services, login)
        assert (await api.get("/api/v1/deliveries")).status == 403
        refused = await api.post("/api/v1/deliveries/retry", {"ids": [scene.accepted]})
        assert refused.status == 403
    await log_in(client, "zjj")
    assert (await client.get("/staff/deliveries")).status == 403
    home = await (await client.get("/staff/")).text()
    assert "/staff/deliveries" not in home  # no nav entry either
    assert (await row(services, scene.accepted)).status == "failed"
