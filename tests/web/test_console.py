"""The staff console pages: roles, department scope, CSRF, actions, audit, exports, injection."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.app import Services
from bot.domain.search import case_search_doc
from bot.domain.tracking import format_tracking_no
from bot.staff.actions import CASE_ACTIONS
from bot.storage import attachments, cases
from bot.storage.tables import audit_log, outbox
from bot.storage.tables import cases as case_table
from tests.cases.lifecycle_support import make_case
from tests.web.conftest import log_in

NOW = datetime.now(UTC)
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
FORMULA = '=HYPERLINK("http://x","y")'
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


async def _file(
    services: Services,
    department: str,
    *,
    user: str,
    request: str = "请求支付拖欠的工资",
    region: str = "330106",
    category: str = "labour",
    **values: Any,
) -> str:
    answers = {
        "request": request,
        "facts": "公司拖欠三个月工资，多次讨要无果。",
        "name": "张三",
        "phone": "13912345678",
        "address": "杭州市西湖区文三路100号",
        **values.pop("answers", {}),
    }
    case_id = await make_case(
        services.db,
        values.pop("at", NOW - timedelta(days=1)),
        user=user,
        department=department,
        region=region,
        category=category,
        answers=answers,
        search_doc=case_search_doc(answers),
        flags=["first_petition"],
        phone="13912345678",
        **values,
    )
    async with services.db.read() as conn:
        row = await cases.by_id(conn, case_id)
    assert row is not None
    return row.tracking_no


@pytest.fixture
async def filed(services: Services) -> dict[str, str]:
    """One case of the Shangcheng housing bureau, one of the Xihu labour bureau."""
    return {
        "zjj": await _file(
            services,
            "330102-zjj",
            user="u-zjj",
            region="330102",
            category="demolition",
            request="小区物业违规收费",
        ),
        "rsj": await _file(services, "330106-rsj", user="u-rsj"),
    }


async def _audit(services: Services, action: str) -> list[Any]:
    async with services.db.read() as conn:
        rows = await conn.execute(select(audit_log).where(audit_log.c.action == action))
        return list(rows)


def _flash(page: str) -> str:
    match = re.search(r'<p class="flash (\w+)"[^>]*>(.*?)</p>', page, re.S)
    return f"{match.group(1)}:{match.group(2)}" if match else ""


# ------------------------------------------------------------------ roles and pages


PAGES_BY_ROLE = {
    # login -> (path, status) beyond the dashboard and the list, which every role sees
    "admin": {"/staff/broadcasts": 200, "/staff/audit": 200},
    "duban": {"/staff/broadcasts": 200, "/staff/audit": 403},
    "zjj": {"/staff/broadcasts": 403, "/staff/audit": 403},
    "viewer": {"/staff/broadcasts": 403, "/staff/audit": 403},
}


@pytest.mark.parametrize("login", list(PAGES_BY_ROLE))
async def test_every_page_renders_for_the_roles_allowed(
    client: Any, filed: dict[str, str], login: str
) -> None:
    await log_in(client, login)
    for path in ("/staff/", "/staff/cases", f"/staff/cases/{filed['zjj']}"):
        response = await client.get(path)
        assert response.status == 200, path
        page = await response.text()
        assert "Content-Security-Policy" in response.headers
        assert "<script>" not in page.replace('<script src="/staff/static/', "")
    for path, status in PAGES_BY_ROLE[login].items():
        assert (await client.get(path)).status == status, path
    detail = await (await client.get(f"/staff/cases/{filed['zjj']}")).text()
    acts = 'action="/staff/cases/' in detail
    assert acts == (login != "viewer"), "viewers see no action forms"
    if login == "viewer":  # no case.pii: the petitioner is masked
        assert "张三" not in detail and "张*" in detail
        assert "13912345678" not in detail
    else:
        assert "张三" in detail


async def test_dashboard_counts_charts_rates_and_deadline_lists(
    client: Any, services: Services, filed: dict[str, str]
) -> None:
    overdue = await _file(
        services,
        "330106-rsj",
        user="u-late",
        status="accepted",
        due_at=NOW - timedelta(days=2),
        request="逾期未办的事项",
    )
    await log_in(client, "duban")
    page = await (await client.get("/staff/")).text()
    assert 'href="/staff/cases?status=submitted"><span class="n">2</span>' in page
    assert format_tracking_no(overdue) in page.split('id="overdue"')[1].split("</table>")[0]
    assert page.count('<svg class="chart"') == 3 and page.count('<svg class="meter"') == 5
    for title in ("按期办结率", "及时受理率", "满意率", "参评率", "初信初访一次办结率", "信访总量"):
        assert title in page
    assert "0 / 0" in page  # nothing answered yet: numerator / denominator shown
    assert 'id="report"' in page and "report.xlsx?period=month" in page
    english = await (await client.get("/staff/?lang=en")).text()
    assert "On-time answer rate" in english and "Xihu District" in english


async def test_missing_holiday_calendar_year_is_a_banner(client: Any, services: Services) -> None:
    await log_in(client, "admin")
    page = await (await client.get("/staff/")).text()
    gaps = services.casework.lifecycle.calendar_gaps()
    assert ('class="banner warn"' in page) == bool(gaps)
    if gaps:
        assert str(gaps[0]) in page


# ------------------------------------------------------------------ department scope


async def test_handler_cannot_reach_another_departments_case(
    client: Any, services: Services, filed: dict[str, str]
) -> None:
    other = filed["rsj"]
    async with services.db.transaction() as conn:
        row = await cases.by_tracking_no(conn, other)
        assert row is not None
        att = await attachments.add(
            conn, contact_id=row.contact_id, kind="image", media_ref="p.png", now=NOW,
            mime="image/png", filename="p.png", size=len(PNG),
        )  # fmt: skip
        await attachments.link_to_case(conn, [att], row.id)
    services.settings.attachments_dir.mkdir(parents=True, exist_ok=True)
    (services.settings.attachments_dir / "p.png").write_bytes(PNG)

    staff = await log_in(client, "zjj")
    assert (await client.get(f"/staff/cases/{other}")).status == 404
    assert (await client.get(f"/staff/cases/{other}/attachments/{att}")).status == 404
    for action in ("accept", "note", "reply"):
        response = await staff.post(f"/staff/cases/{other}/actions/{action}", {"text": "x"})
        assert response.status == 404, action
    list_page = await (await client.get("/staff/cases")).text()
    assert format_tracking_no(filed["zjj"]) in list_page
    assert format_tracking_no(other) not in list_page
    exported = await (await client.get("/staff/cases/export.csv")).text()
    assert (
        format_tracking_no(filed["zjj"]) in exported and format_tracking_no(other) not in exported
    )
    async with services.db.read() as conn:
        status = (
            await conn.execute(select(case_table.c.status).where(case_table.c.tracking_no == other))
        ).scalar_one()
    assert status == "submitted"

    # the labour bureau's handler sees the picture, inline and sniff-proof
    await log_in(client, "rsj")
    response = await client.get(f"/staff/cases/{other}/attachments/{att}")
    assert response.status == 200 and await response.read() == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("inline")
    page = await (await client.get(f"/staff/cases/{other}")).text()
    assert f'<img src="/staff/cases/{other}/attachments/{att}"' in page
    assert await _audit(services, "case.attachment")


async def test_files_that_are_not_images_or_audio_are_downloads(
    client: Any, services: Services, filed: dict[str, str]
) -> None:
    number = filed["zjj"]
    async with services.db.transaction() as conn:
        row = await cases.by_tracking_no(conn, number)
        assert row is not None
        ids = [
            await attachments.add(
                conn, contact_id=row.contact_id, kind=kind, media_ref=ref, now=NOW, mime=mime,
                filename=name, size=10,
            )
            for kind, ref, mime, name in (
                ("file", "a.svg", "image/svg+xml", "画.svg"),
                ("voice", "v.mp3", "audio/mpeg", "语音.mp3"),
            )
        ]  # fmt: skip
        await attachments.link_to_case(conn, ids, row.id)
    folder = services.settings.attachments_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>'
    )
    (folder / "v.mp3").write_bytes(b"ID3" + b"\x00" * 20)
    await log_in(client, "zjj")
    svg = await client.get(f"/staff/cases/{number}/attachments/{ids[0]}")
    assert svg.headers["Content-Type"] == "application/octet-stream"
    assert svg.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in svg.headers["Content-Security-Policy"]
    voice = await client.get(f"/staff/cases/{number}/attachments/{ids[1]}")
    assert voice.headers["Content-Type"] == "audio/mpeg"
    page = await (await client.get(f"/staff/cases/{number}")).text()
    assert (
        f'<audio controls preload="none" src="/staff/cases/{number}/attachments/{ids[1]}"' in page
    )


# ------------------------------------------------------------------ actions, CSRF, audit


async def test_viewer_gets_403_on_every_action(client: Any, filed: dict[str, str]) -> None:
    staff = await log_in(client, "viewer")
    for action in CASE_ACTIONS:
        response = await staff.post(f"/staff/cases/{filed['zjj']}/actions/{action}", {})
        assert response.status == 403, action


async def test_every_unsafe_request_without_csrf_is_refused(
    client: Any, services: Services, filed: dict[str, str]
) -> None:
    await log_in(client, "admin")
    paths = [f"/staff/cases/{filed['zjj']}/actions/{a}" for a in CASE_ACTIONS]
    paths += ["/staff/broadcasts/preview", "/staff/broadcasts", "/staff/broadcasts/1/cancel"]
    paths += ["/staff/logout"]
    for path in paths:
        for token in ({}, {"_csrf": "forged"}):
            response = await client.post(
                path, data={"text": "x", "kind": "all", **token}, allow_redirects=False
            )
            # refused: back to the page (which keeps the typed text) with the reason
            assert response.status == 303, path
            assert "xf_flash" in response.cookies and "/login" not in response.headers["Location"]
    assert not await _audit(services, "case.accept")
    async with services.db.read() as conn:
        assert (await conn.execute(select(outbox.c.id))).first() is None


async def test_case_is_worked_through_the_console_and_audited(
    client: Any, services: Services, filed: dict[str, str]
) -> None:
    number = filed["zjj"]
    page_url = f"/staff/cases/{number}"
    staff = await log_in(client, "zjj")

    async def act(action: str, data: dict[str, Any] | None = None) -> str:
        response = await staff.post(f"{page_url}/actions/{action}", data or {})
        assert response.status == 303 and response.headers["Location"] == page_url
        return _flash(await (await client.get(page_url)).text())

    page = await (await client.get(page_url)).text()
    assert 'id="action-accept"' in page and 'id="action-answer"' not in page
    assert (await act("accept")).startswith("ok:已完成：受理")
    # not allowed now: refused with the reason in Chinese, nothing changes
    refused = await act("answer", {"outcome": "supported", "text": "x"})
    assert refused.startswith("error:") and "已受理" in refused
    assert (await act("assign", {"department": "330102-zjj"})).startswith("ok:")
    # a handler does not extend (督办 staff approve extensions): the page says why
    page = await (await client.get(page_url)).text()
    assert 'id="action-extend"' not in page and "延期须经督办人员批准" in page
    assert (await act("extend", {"days": "10", "reason": "x"})).startswith("error:延期须经督办")
    assert (await act("note", {"text": "内部意见：先核实", "public": ""})).startswith("ok:")
    assert (await act("flag", {"flag": "urgent", "on": "1"})).startswith("ok:")
    assert (await act("reply", {"text": "您好，我们正在核实。"})).startswith("ok:")
    done = await act("answer", {"outcome": "supported", "text": "经核实，责令物业退还费用。"})
    assert done.startswith("ok:")

    page = await (await client.get(page_url)).text()
    assert 'id="case-status">已答复' in page or ">已答复<" in page
    assert "内部意见：先核实" in page and 'class="badge internal"' in page
    assert 'class="flag f-urgent"' in page
    # closing waits for the petitioner's 复查 window: said up front, with its last day
    assert 'id="action-close"' not in page and "前信访人仍可申请复查或复核" in page
    # the reply and the answer went to the petitioner; the internal note did not
    async with services.db.read() as conn:
        pushed = [r.payload for r in await conn.execute(select(outbox).order_by(outbox.c.id))]
    texts = " ".join(str(p) for p in pushed)
    assert "您好，我们正在核实。" in texts and "内部意见" not in texts
    for action in ("accept", "assign", "note", "flag.set", "reply", "answer"):
        rows = await _audit(services, f"case.{action}")
        assert rows and rows[0].actor == "zjj", action
    assert await _audit(services, "case.read")


async def test_suggested_duplicate_is_linked_from_the_page(
    client: Any, services: Services, filed: dict[str, str]
) -> None:
    primary = filed["rsj"]
    later = await _file(services, "330106-rsj", user="u-dup", at=NOW)
    async with services.db.transaction() as conn:
        a = await cases.by_tracking_no(conn, later)
        b = await cases.by_tracking_no(conn, primary)
        assert a and b
        await cases.put_link(conn, a.id, b.id, kind="suggested", score=0.42, now=NOW)
    staff = await log_in(client, "rsj")
    page = await (await client.get(f"/staff/cases/{later}")).text()
    assert format_tracking_no(primary) in page and "0.42" in page
    response = await staff.post(f"/staff/cases/{later}/actions/link", {"primary": primary})
    assert response.status == 303
    page = await (await client.get(f"/staff/cases/{later}")).text()
    assert (_flash(page).startswith("ok:") and 'id="linked"' in page) or "并入事项" in page


async def test_suggested_duplicates_of_other_departments_are_not_shown(
    client: Any, services: Services, filed: dict[str, str]
) -> None:
    mine, theirs = filed["rsj"], filed["zjj"]  # the labour and the housing bureau
    async with services.db.transaction() as conn:
        a = await cases.by_tracking_no(conn, mine)
        b = await cases.by_tracking_no(conn, theirs)
        assert a and b
        await cases.put_link(conn, a.id, b.id, kind="suggested", score=0.77, now=NOW)
    await log_in(client, "rsj")
    page = await (await client.get(f"/staff/cases/{mine}")).text()
    assert format_tracking_no(theirs) not in page and theirs not in page and "0.77" not in page
    await log_in(client, "admin")  # who sees both departments sees the suggestion
    page = await (await client.get(f"/staff/cases/{mine}")).text()
    assert format_tracking_no(theirs) in page and "0.77" in page


# ------------------------------------------------------------------ list, filters, exports


async def test_list_filters_sorts_pages_and_keeps_the_filter_in_the_url(
    client: Any, services: Services, filed: dict[str, str]
) -> None:
    for i in range(3):
        await _file(services, "330106-rsj", user=f"u-more-{i}", request=f"第{i}件 公积金提取")
    await log_in(client, "admin")
    page = await (await client.get("/staff/cases?region=330102")).text()
    assert format_tracking_no(filed["zjj"]) in page and format_tracking_no(filed["rsj"]) not in page
    assert '<option value="330102" selected>' in page
    listed = await client.get("/staff/cases?q=公积金&per_page=25&sort=tracking_no&dir=asc")
    text = await listed.text()
    assert "共 3 件" in text
    assert "export.csv?q=" in text and "sort=tracking_no" in text
    numbers = re.findall(r'class="tn">([^<]+)<', text)
    assert numbers == sorted(numbers)
    # a page past the end is the last page (see test_case_list_bulk)
    paged = await (await client.get("/staff/cases?per_page=25&page=2")).text()
    assert "第 1/1 页" in paged and 'rel="next"' not in paged
    bad = await (await client.get("/staff/cases?from=2026-13-01")).text()
    assert "已忽略" in bad
    overdue = await (await client.get("/staff/cases?deadline=overdue")).text()
    assert "没有符合条件的事项" in overdue


async def test_exports_are_the_filtered_list_and_audited(
    client: Any, services: Services, filed: dict[str, str]
) -> None:
    await log_in(client, "duban")
    response = await client.get("/staff/cases/export.csv?region=330102")
    assert response.status == 200 and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert len(rows) == 2 and rows[1][0] == format_tracking_no(filed["zjj"])
    response = await client.get("/staff/cases/export.xlsx")
    assert response.status == 200
    book = load_workbook(io.BytesIO(await response.read()), read_only=True)
    sheet = book.worksheets[0]
    numbers = {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert numbers == {format_tracking_no(n) for n in filed.values()}
    assert len(await _audit(services, "case.export")) == 2
    await log_in(client, "viewer")
    assert (await client.get("/staff/cases/export.csv")).status == 403


# ------------------------------------------------------------------ broadcasts, audit page


async def test_broadcast_is_previewed_confirmed_and_followed(
    client: Any, services: Services, filed: dict[str, str]
) -> None:
    staff = await log_in(client, "duban")
    preview = await staff.post(
        "/staff/broadcasts/preview",
        {"kind": "filter", "region": "330102", "text": "通知：明天停水"},
    )
    page = await preview.text()
    assert preview.status == 200 and 'id="recipient-total">1<' in page
    assert 'data-channel="web">1<' in page
    sent = await staff.post(
        "/staff/broadcasts", {"kind": "filter", "region": "330102", "text": "通知：明天停水"}
    )
    assert sent.status == 303
    location = sent.headers["Location"]
    progress = await (await client.get(location + "/progress.json")).json()
    assert progress["total"] == 1 and progress["pending"] + progress["sent"] == 1
    page = await (await client.get(location)).text()
    assert "console-broadcast.js" in page and 'id="cancel"' in page
    cancel = await staff.post(location + "/cancel")
    assert cancel.status == 303
    progress = await (await client.get(location + "/progress.json")).json()
    assert progress["status"] == "cancelled" and progress["finished"]
    listing = await (await client.get("/staff/broadcasts")).text()
    assert "通知：明天停水" in listing
    empty = await staff.post("/staff/broadcasts/preview", {"kind": "filter", "text": "x"})
    assert empty.status == 400 and 'class="error"' in await empty.text()
    assert await _audit(services, "broadcast.send") and await _audit(services, "broadcast.cancel")


async def test_audit_log_page_filters_and_pages(
    client: Any, services: Services, filed: dict[str, str]
) -> None:
    await log_in(client, "zjj")
    for _ in range(3):
        await client.get(f"/staff/cases/{filed['zjj']}")
    await log_in(client, "admin")
    page = await (await client.get(f"/staff/audit?actor=zjj&case={filed['zjj']}")).text()
    assert page.count('<td class="nowrap" title="case.read">查看信访事项</td>') == 3
    unknown = await (await client.get("/staff/audit?case=XF000000-000000-0")).text()
    assert "没有符合条件的记录" in unknown


# ------------------------------------------------------------------ untrusted citizen text


async def test_petition_markup_formulas_and_long_text_render_inert(
    client: Any, services: Services
) -> None:
    long_text = "长" * 100_000
    number = await _file(
        services,
        "330106-rsj",
        user="u-evil",
        status="accepted",
        due_at=NOW - timedelta(days=1),
        request=f"{SCRIPT} 请求 {IMG}",
        answers={"name": IMG, "respondent": FORMULA, "facts": f"{SCRIPT}{long_text}"},
    )
    await log_in(client, "admin")
    for path in ("/staff/cases", f"/staff/cases/{number}", "/staff/"):
        page = await (await client.get(path)).text()
        assert SCRIPT not in page and IMG not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in page, path
    detail = await (await client.get(f"/staff/cases/{number}")).text()
    assert "=HYPERLINK(&#34;http://x&#34;,&#34;y&#34;)" in detail
    assert long_text in detail  # shown whole, wrapped by CSS
    exported = (await (await client.get("/staff/cases/export.csv")).read()).decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(exported)) for cell in row]
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)


async def test_login_page_is_styled_and_forms_keep_their_origin(client: Any) -> None:
    login = await client.get("/staff/login")
    css = re.search(r'href="(/staff/static/console\.css[^"]*)"', await login.text())
    assert css is not None
    styled = await client.get(css.group(1).replace("&amp;", "&"), allow_redirects=False)
    assert styled.status == 200 and "text/css" in styled.headers["Content-Type"]
    # "no-referrer" would make Chromium send `Origin: null` on form posts (refused)
    assert login.headers["Referrer-Policy"] == "same-origin"


async def test_language_switch_keeps_the_filter(client: Any, filed: dict[str, str]) -> None:
    await log_in(client, "duban")
    page = await (await client.get("/staff/cases?region=330102&status=submitted")).text()
    assert 'href="/staff/cases?region=330102&amp;status=submitted&amp;lang=en"' in page
