"""The audit log: refused requests (scope, role, CSRF), flags set and cleared, logout, and
the audit page's filters by date, account and case with translated action names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.app import Services
from bot.storage import cases
from bot.storage import staff as store
from bot.storage.tables import audit_log
from tests.web.api_support import RSJ, ZJJ, api_for, file_case
from tests.web.conftest import log_in


async def _entries(services: Services, action: str) -> list[Any]:
    async with services.db.read() as conn:
        query = select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)
        return list((await conn.execute(query)).all())


async def _case_id(services: Services, number: str) -> int:
    async with services.db.read() as conn:
        row = await cases.by_tracking_no(conn, number)
    assert row is not None
    return row.id


async def test_a_handler_opening_another_departments_case_is_refused_and_audited(
    client: Any, services: Services
) -> None:
    theirs = await file_case(services, ZJJ)
    await log_in(client, "rsj")
    page = await client.get(f"/staff/cases/{theirs}")
    assert page.status == 404 and "没有找到该信访事项" in await page.text()
    unknown = await client.get("/staff/cases/XF000000-000000-0")
    assert unknown.status == 404  # no such case: nothing was refused
    [entry] = await _entries(services, "access.refused")
    assert (entry.actor, entry.case_id, entry.target) == (
        "rsj",
        await _case_id(services, theirs),
        theirs,
    )
    assert entry.detail == {
        "reason": "scope",
        "request": "GET /staff/cases/{tracking_no}",
        "via": "session",
    }


async def test_a_viewer_posting_an_action_is_refused_and_audited(
    client: Any, services: Services
) -> None:
    number = await file_case(services, ZJJ)
    viewer = await log_in(client, "viewer")
    response = await viewer.post(f"/staff/cases/{number}/actions/accept", {"note": "x"})
    assert response.status == 403 and "您的角色无权执行此操作" in await response.text()
    api = await api_for(client, services, "viewer")
    refused = await api.act(number, "note", {"text": "x"})
    assert refused.status == 403 and (await refused.json())["error"] == "forbidden"
    entries = await _entries(services, "access.refused")
    assert [(e.actor, e.target, e.case_id) for e in entries] == [("viewer", number, None)] * 2
    assert [e.detail for e in entries] == [
        {
            "reason": "role",
            "permission": "case.act",
            "request": "POST /staff/cases/{tracking_no}/actions/{action}",
            "action": "accept",
            "via": "session",
        },
        {
            "reason": "role",
            "permission": "case.act",
            "request": "POST /api/v1/cases/{tracking_no}/actions/note",
            "via": "token",
        },
    ]
    assert not await _entries(services, "case.accept")


async def test_a_csrf_failure_is_refused_and_audited(client: Any, services: Services) -> None:
    number = await file_case(services, ZJJ)
    await log_in(client, "zjj")
    path = f"/staff/cases/{number}/actions/accept"
    forged = await client.post(path, data={"_csrf": "forged"}, allow_redirects=False)
    assert forged.status == 303 and forged.headers["Location"] == f"/staff/cases/{number}"
    [entry] = await _entries(services, "access.refused")
    assert (entry.actor, entry.target, entry.detail["reason"]) == ("zjj", number, "csrf")
    assert entry.detail["request"] == "POST /staff/cases/{tracking_no}/actions/{action}"


async def test_flag_set_and_cleared_are_told_apart(client: Any, services: Services) -> None:
    number = await file_case(services, ZJJ)
    staff = await log_in(client, "zjj")
    url = f"/staff/cases/{number}/actions/flag"
    assert (await staff.post(url, {"flag": "urgent", "on": "1"})).status == 303
    assert (await staff.post(url, {"flag": "urgent"})).status == 303
    assert [e.detail["flag"] for e in await _entries(services, "case.flag.set")] == ["urgent"]
    assert [e.detail["flag"] for e in await _entries(services, "case.flag.clear")] == ["urgent"]
    assert not await _entries(services, "case.flag")


async def test_logout_is_audited(client: Any, services: Services) -> None:
    staff = await log_in(client, "zjj")
    response = await staff.post("/staff/logout")
    assert response.status == 303
    [entry] = await _entries(services, "logout")
    assert (entry.actor, entry.detail) == ("zjj", {"via": "session"})
    again = await client.post("/staff/logout", data={"_csrf": staff.csrf}, allow_redirects=False)
    assert again.status == 303  # no session any more: to the login page, nothing logged
    assert len(await _entries(services, "logout")) == 1


async def test_the_audit_page_filters_by_date_account_and_case(
    client: Any, services: Services
) -> None:
    housing = await file_case(services, ZJJ)
    wages = await file_case(services, RSJ, request="拖欠工资")
    housing_id, wages_id = await _case_id(services, housing), await _case_id(services, wages)
    # days are the office's (Beijing, UTC+8): 15:30 UTC is still the same day there
    written = [
        (datetime(2026, 2, 28, 15, 30, tzinfo=UTC), "zjj", "case.search", None),  # 2-28 CST
        (datetime(2026, 2, 28, 16, 30, tzinfo=UTC), "zjj", "case.read", housing_id),  # 3-1 CST
        (datetime(2026, 3, 1, 16, 30, tzinfo=UTC), "zjj", "case.accept", housing_id),  # 3-2 CST
        (datetime(2026, 3, 2, 2, 0, tzinfo=UTC), "rsj", "case.flag.set", wages_id),  # 3-2 CST
        (datetime(2026, 3, 5, 2, 0, tzinfo=UTC), "zjj", "access.refused", wages_id),  # 3-5 CST
    ]
    async with services.db.transaction() as conn:
        for at, actor, action, case_id in written:
            await store.add_audit(conn, at=at, actor=actor, action=action, case_id=case_id)
    await log_in(client, "admin")

    async def shown(query: str) -> list[str]:
        page = await (await client.get(f"/staff/audit?{query}")).text()
        return [a for _, _, a, _ in written if f'title="{a}"' in page]

    assert await shown("since=2026-03-01&until=2026-03-01") == ["case.read"]
    assert await shown("since=2026-03-02&until=2026-03-04") == ["case.accept", "case.flag.set"]
    assert await shown("until=2026-02-28") == ["case.search"]
    assert await shown("since=2026-03-02&until=2026-03-05&actor=zjj") == [
        "case.accept",
        "access.refused",
    ]
    assert await shown(f"until=2026-03-05&case={wages}") == ["case.flag.set", "access.refused"]
    assert await shown("since=not-a-day&until=2026-03-01") == ["case.search", "case.read"]
    page = await (await client.get("/staff/audit?until=2026-03-05")).text()
    assert '<td class="nowrap" title="case.flag.set">设置标记</td>' in page
    assert '<td class="nowrap" title="access.refused">拒绝访问</td>' in page
    assert '<td class="nowrap" title="case.accept">受理</td>' in page
    english = await (await client.get("/staff/audit?until=2026-03-05&lang=en")).text()
    assert '<td class="nowrap" title="case.flag.set">Set a flag</td>' in english
    # the API takes the same days
    api = await api_for(client, services, "admin")
    march = {"since": "2026-03-02", "until": "2026-03-31"}
    body = await (await api.get("/api/v1/audit", params=march)).json()
    newest_first = ["access.refused", "case.flag.set", "case.accept"]
    assert [e["action"] for e in body["items"]] == newest_first
    wrong = await api.get("/api/v1/audit", params={"since": "1066-10-14"})
    assert wrong.status == 422
