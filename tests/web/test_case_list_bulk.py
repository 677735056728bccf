"""The case list as staff meet it: pages that stop at the last one, sorts kept in the URL,
filter chips, and bulk accept / assign / export of a selection (console and API)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select, update

from bot.app import Services
from bot.domain.tracking import format_tracking_no
from bot.storage import cases
from bot.storage.tables import audit_log
from bot.storage.tables import cases as case_table
from tests.web.api_support import NOW, RSJ, ZJJ, api_for, file_case
from tests.web.conftest import log_in


def _numbers(page: str) -> list[str]:
    """Tracking numbers of the list's rows, in order."""
    return re.findall(r'name="case" value="([^"]+)"', page)


async def _status(services: Services, number: str) -> tuple[str, str]:
    async with services.db.read() as conn:
        row = await cases.by_tracking_no(conn, number)
    assert row is not None
    return row.status, row.department


async def _touch(services: Services, number: str, days_ago: int) -> None:
    async with services.db.transaction() as conn:
        await conn.execute(
            update(case_table)
            .where(case_table.c.tracking_no == number)
            .values(updated_at=NOW - timedelta(days=days_ago))
        )


async def _audit(services: Services, action: str) -> list[Any]:
    async with services.db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.actor, audit_log.c.target, audit_log.c.detail, audit_log.c.case_id)
            .where(audit_log.c.action == action)
            .order_by(audit_log.c.id)
        )
        return list(rows)


# ------------------------------------------------------------------ pages, sort, chips


async def test_pages_stop_at_the_last_page_and_show_the_total(
    client: Any, services: Services
) -> None:
    for i in range(27):
        await file_case(services, RSJ, request=f"第{i}件", when=NOW - timedelta(hours=i + 1))
    await log_in(client, "duban")
    page = await (await client.get("/staff/cases?per_page=25")).text()
    assert "共 27 件，第 1/2 页" in page
    assert 'rel="next"' in page
    last = await (await client.get("/staff/cases?per_page=25&page=2")).text()
    assert len(_numbers(last)) == 2
    assert 'rel="next"' not in last, "no link past the last page"
    # an old link beyond the end lands on the last page, not on an empty one
    beyond = await client.get("/staff/cases?per_page=25&page=9", allow_redirects=False)
    assert beyond.status == 303
    assert "page=2" in beyond.headers["Location"] and "per_page=25" in beyond.headers["Location"]
    followed = await (await client.get("/staff/cases?per_page=25&page=9")).text()
    assert _numbers(followed) == _numbers(last)


async def test_sort_by_last_update_deadline_or_submitted_is_kept_in_the_url(
    client: Any, services: Services
) -> None:
    old = await file_case(services, RSJ, request="甲", when=NOW - timedelta(days=9))
    new = await file_case(services, RSJ, request="乙", when=NOW - timedelta(days=1))
    await _touch(services, old, 0)  # the older case was worked on today
    await _touch(services, new, 5)
    await log_in(client, "duban")
    by_submitted = await (await client.get("/staff/cases")).text()
    assert _numbers(by_submitted) == [new, old]
    by_update = await (await client.get("/staff/cases?sort=updated_at&dir=desc")).text()
    assert _numbers(by_update) == [old, new]
    assert '<option value="updated_at" selected>' in by_update
    ascending = await (await client.get("/staff/cases?sort=updated_at&dir=asc")).text()
    assert _numbers(ascending) == [new, old]
    # the chosen order survives removing a filter chip
    filtered = await (
        await client.get("/staff/cases?sort=updated_at&dir=asc&status=submitted")
    ).text()
    chip = re.search(r'data-name="status".*?href="([^"]+)"', filtered, re.S)
    assert chip is not None
    assert "sort=updated_at" in chip.group(1) and "dir=asc" in chip.group(1)
    assert "status=" not in chip.group(1)


async def test_active_filters_are_chips_that_remove_one_value(
    client: Any, services: Services
) -> None:
    await file_case(services, RSJ, request="工资")
    await log_in(client, "duban")
    page = await (
        await client.get(
            "/staff/cases?status=submitted&status=accepted&region=330106&deadline=overdue"
            "&q=%E5%B7%A5%E8%B5%84&page=1"
        )
    ).text()
    chips = re.findall(
        r'<li class="chip" data-name="(\w+)" data-value="([^"]*)">(.*?) <a href="([^"]+)"',
        page,
        re.S,
    )
    by_value = {(name, value): (text, href) for name, value, text, href in chips}
    assert set(by_value) == {
        ("q", "工资"),
        ("status", "submitted"),
        ("status", "accepted"),
        ("region", "330106"),
        ("deadline", "overdue"),
    }
    text, href = by_value[("status", "accepted")]
    assert text.startswith("状态：")
    assert "status=submitted" in href and "status=accepted" not in href
    assert "region=330106" in href and "deadline=overdue" in href
    assert by_value[("region", "330106")][0] == "事发地：西湖区"
    # following the chip's link drops exactly that filter
    after = await (await client.get(href)).text()
    assert 'data-value="accepted"' not in after and 'data-value="submitted"' in after
    # the region and department filters carry the type-to-filter marker (plain selects
    # without script)
    assert 'data-searchable="输入文字筛选选项" id="filter-region"' in page
    assert 'id="filter-department"' in page


# ------------------------------------------------------------------ bulk in the console


async def test_bulk_accept_with_one_refused_case(client: Any, services: Services) -> None:
    first = await file_case(services, RSJ, request="一")
    second = await file_case(services, RSJ, request="二")
    done_before = await file_case(services, RSJ, request="三", status="accepted")
    other = await file_case(services, ZJJ, request="四")  # outside the handler's department
    staff = await log_in(client, "rsj")
    response = await staff.post(
        "/staff/cases/bulk",
        {"op": "accept", "case": [first, second, done_before, other], "back": "status=submitted"},
    )
    assert response.status == 200
    page = await response.text()
    assert "已受理 2 件；2 件未能受理。" in page
    refused = re.search(r'<table class="refused" id="bulk-refused">(.*?)</table>', page, re.S)
    assert refused is not None
    rows = re.findall(r"<tr><td[^>]*>([^<]+)</td><td>([^<]+)</td></tr>", refused.group(1))
    reasons = dict(rows)
    # the refusal reads as on the case page (status in words), and scope as "not found"
    assert reasons[format_tracking_no(done_before)] == "当前状态为“已受理”，不能执行“受理”。"
    assert reasons[format_tracking_no(other)] == "没有该事项，或不在您的单位范围内。"
    assert 'href="/staff/cases?status=submitted"' in page
    assert (await _status(services, first))[0] == "accepted"
    assert (await _status(services, second))[0] == "accepted"
    assert (await _status(services, other))[0] == "submitted"
    # audited per case: two acts and two refusals (the out-of-scope one with its case)
    accepted = await _audit(services, "case.accept")
    assert len(accepted) == 2
    refusals = await _audit(services, "case.bulk_refused")
    assert [r.detail["code"] for r in refusals] == ["conflict", "scope"]
    assert refusals[1].case_id is not None


async def test_bulk_assign_names_the_department_and_refuses_a_closed_case(
    client: Any, services: Services
) -> None:
    open_case = await file_case(services, RSJ, request="一", status="accepted")
    closed = await file_case(services, RSJ, request="二", status="closed")
    staff = await log_in(client, "duban")
    page = await (
        await staff.post(
            "/staff/cases/bulk",
            {"op": "assign", "case": [open_case, closed], "department": ZJJ, "message": "请配合"},
        )
    ).text()
    assert "已交办 1 件；1 件未能交办。" in page
    assert "当前状态为“已办结”，不能执行“交办”。" in page
    assert await _status(services, open_case) == ("assigned", ZJJ)
    assert (await _status(services, closed))[0] == "closed"


async def test_bulk_needs_the_csrf_token_and_the_role(client: Any, services: Services) -> None:
    number = await file_case(services, RSJ)
    staff = await log_in(client, "duban")
    no_token = await client.post(
        "/staff/cases/bulk", data={"op": "accept", "case": number}, allow_redirects=False
    )
    assert no_token.status == 303
    assert (await _status(services, number))[0] == "submitted"
    assert staff.csrf
    viewer = await log_in(client, "viewer")
    refused = await viewer.post("/staff/cases/bulk", {"op": "accept", "case": number})
    assert refused.status == 403
    assert (await _status(services, number))[0] == "submitted"
    list_page = await (await client.get("/staff/cases")).text()
    assert 'id="bulk"' not in list_page, "viewers get no selection boxes"


async def test_bulk_export_has_exactly_the_selected_cases(client: Any, services: Services) -> None:
    chosen = [await file_case(services, RSJ, request=f"选中{i}") for i in range(2)]
    left = await file_case(services, RSJ, request="未选")
    outside = await file_case(services, ZJJ, request="外单位")
    staff = await log_in(client, "rsj")
    response = await staff.post(
        "/staff/cases/bulk", {"op": "export_csv", "case": [*chosen, outside]}
    )
    assert response.status == 200
    assert "attachment" in response.headers["Content-Disposition"]
    text = (await response.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    numbers = {r[0] for r in rows[1:]}
    assert numbers == {format_tracking_no(n) for n in chosen}, "only selected cases in scope"
    assert format_tracking_no(left) not in text and format_tracking_no(outside) not in text
    assert rows[0][0] == "事项编号"
    xlsx = await staff.post("/staff/cases/bulk", {"op": "export_xlsx", "case": chosen[:1]})
    book = load_workbook(io.BytesIO(await xlsx.read()), read_only=True)
    values = [row for row in book.active.iter_rows(values_only=True)]
    assert [v[0] for v in values[1:]] == [format_tracking_no(chosen[0])]
    exports = await _audit(services, "case.export")
    assert exports[0].detail["filter"]["tracking_nos"] == [*chosen, outside]
    assert exports[0].detail["rows"] == 2


async def test_list_offers_select_all_and_a_no_script_fallback(
    client: Any, services: Services
) -> None:
    numbers = [await file_case(services, RSJ, request=f"第{i}") for i in range(3)]
    await log_in(client, "duban")
    page = await (await client.get("/staff/cases")).text()
    assert 'id="select-all"' in page and "全选本页" in page
    assert sorted(_numbers(page)) == sorted(numbers)
    assert 'form="bulk" class="pick"' in page and " checked>" not in page
    all_checked = await (await client.get("/staff/cases?select=page")).text()
    assert all_checked.count(" checked>") == 3


# ------------------------------------------------------------------ bulk in the API


async def test_api_bulk_accept_lists_refusals_with_their_codes(
    client: Any, services: Services
) -> None:
    ok = await file_case(services, RSJ, request="一")
    accepted = await file_case(services, RSJ, request="二", status="accepted")
    other = await file_case(services, ZJJ, request="三")
    api = await api_for(client, services, "rsj")
    response = await api.post(
        "/api/v1/cases/actions/bulk", {"action": "accept", "cases": [ok, accepted, other]}
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["done"] == [format_tracking_no(ok)]
    errors = {r["tracking_no"]: r["error"] for r in body["refused"]}
    assert errors == {
        format_tracking_no(accepted): "conflict",
        format_tracking_no(other): "not_found",
    }
    assert body["pushes"] >= 1
    invalid = await api.post("/api/v1/cases/actions/bulk", {"action": "close", "cases": [ok]})
    assert invalid.status == 422
    empty = await api.post("/api/v1/cases/actions/bulk", {"action": "accept", "cases": []})
    assert empty.status == 422
    document = await (await client.get("/api/v1/openapi.json")).json()
    assert "post" in document["paths"]["/api/v1/cases/actions/bulk"]


async def test_api_exports_exactly_a_selection(client: Any, services: Services) -> None:
    chosen = await file_case(services, RSJ, request="选中")
    await file_case(services, RSJ, request="未选")
    other = await file_case(services, ZJJ, request="外单位")
    api = await api_for(client, services, "rsj")
    number = format_tracking_no(chosen)
    response = await api.get("/api/v1/cases/export.csv", params=[("case", number), ("case", other)])
    assert response.status == 200
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == [number], "the selection, within the member's scope"
    listed = await (await api.get("/api/v1/cases", params={"case": chosen})).json()
    assert [c["tracking_no"] for c in listed["items"]] == [chosen]
    bad = await api.get("/api/v1/cases", params={"case": "XF123"})
    assert bad.status == 422
