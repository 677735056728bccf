"""GET /api/v1/cases?q=: what each role finds by phone, tracking-number parts, personal
data and the petition's words, and that the audit log keeps no personal query."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.app import Services
from bot.storage.tables import audit_log
from tests.web.api_support import RSJ, ZJJ, api_for, file_case

ID_CARD = "330106199001011234"
HOUSING = {
    "name": "陈美玲",
    "phone": "13812345678",
    "address": "上城区解放路88号",
    "facts": f"物业公司强行收取停车费，身份证号{ID_CARD}，已多次投诉",
}
WAGES = {"name": "周建国", "phone": "13698761111", "address": "拱墅区"}


async def _found(api: Any, query: str, **params: str) -> set[str]:
    response = await api.get("/api/v1/cases", params={"q": query, **params})
    assert response.status == 200, await response.text()
    return {c["tracking_no"] for c in (await response.json())["items"]}


async def test_search_by_role(client: Any, services: Services) -> None:
    housing = await file_case(services, ZJJ, request="小区停车乱收费", answers=HOUSING)
    wages = await file_case(services, RSJ, request="工资被拖欠三个月", answers=WAGES)
    logins = ("admin", "zjj", "viewer")
    admin, handler, viewer = [await api_for(client, services, x) for x in logins]
    part = housing[8:14]  # the random part of the tracking number
    dashed = f"{housing[2:8]}-{housing[8:14]}"
    full_width = "".join(chr(ord(d) + 0xFEE0) for d in part)
    table: list[tuple[str, set[str], set[str], set[str]]] = [
        # query, admin, handler of the housing bureau, viewer
        ("13812345678", {housing}, {housing}, set()),
        ("+86 138 1234 5678", {housing}, {housing}, set()),
        ("138-1234-5678", {housing}, {housing}, set()),
        ("5678", {housing}, {housing}, set()),
        ("1111", {wages}, set(), set()),  # the wages case is another department's
        ("13698761111", {wages}, set(), set()),
        (part, {housing}, {housing}, {housing}),
        (dashed, {housing}, {housing}, {housing}),
        ("XF" + housing[2:6], {housing, wages}, {housing}, {housing, wages}),
        (full_width, {housing}, {housing}, {housing}),
        ("陈美玲", {housing}, {housing}, set()),
        ("解放路", {housing}, {housing}, set()),
        ("身份证号 3301061990", {housing}, {housing}, set()),
        ("身份证号 3301061991", set(), set(), set()),
        ("停车费", {housing}, {housing}, {housing}),  # 事实: the facts' words
        ("拖欠", {wages}, set(), {wages}),
    ]
    for query, for_admin, for_handler, for_viewer in table:
        if query.isdigit() and len(query) == 4 and query in housing + wages:
            continue  # a phone's end that is also in a tracking number: found either way
        assert await _found(admin, query) == for_admin, query
        assert await _found(handler, query) == for_handler, query
        assert await _found(viewer, query) == for_viewer, query
    # a category filter with words: non-personal, so the viewer finds it too
    assert await _found(viewer, "物业", category="labour") == {housing}
    assert await _found(viewer, "物业", category="environment") == set()


async def test_the_audit_log_keeps_no_personal_query(client: Any, services: Services) -> None:
    housing = await file_case(services, ZJJ, answers=HOUSING)
    admin = await api_for(client, services, "admin")
    for query in ("13812345678", "陈美玲 停车", housing):
        await _found(admin, query)
    async with services.db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.detail)
            .where(audit_log.c.action == "case.search")
            .order_by(audit_log.c.id)
        )
        kept = [r[0]["q"] for r in rows]
    assert kept == ["***********", "陈** 停*", housing]
