"""The staff JSON API: lists, details, actions, errors, dashboard, exports, broadcasts, audit."""

from __future__ import annotations

import io
import json
from typing import Any

from openpyxl import load_workbook

from bot.app import Services
from bot.storage import attachments
from tests.web.api_support import RSJ, ZJJ, api_for, audit_entries, db_state, file_case


async def _json(response: Any, status: int) -> Any:
    body = await response.text()
    assert response.status == status, body
    assert response.content_type == "application/json"
    return json.loads(body)


async def test_me_and_the_public_openapi_document(client: Any, services: Services) -> None:
    document = await _json(await client.get("/api/v1/openapi.json"), 200)
    assert document["openapi"] == "3.1.0" and "/api/v1/cases" in document["paths"]
    api = await api_for(client, services, "zjj")
    me = await _json(await api.get("/api/v1/me"), 200)
    assert me["login"] == "zjj" and me["role"] == "handler" and me["via"] == "token"
    assert me["departments"] == [ZJJ]
    assert "case.act" in me["permissions"] and "broadcast" not in me["permissions"]


async def test_case_list_filters_sort_pages_and_masking(client: Any, services: Services) -> None:
    housing = await file_case(services, ZJJ, request="楼上漏水无人处理")
    wages = await file_case(services, RSJ, request="工资被拖欠三个月")
    accepted = await file_case(services, ZJJ, request="物业乱收费", status="accepted")
    admin = await api_for(client, services, "admin")

    page = await _json(await admin.get("/api/v1/cases"), 200)
    assert page["total"] == 3 and page["pages"] == 1
    assert {c["tracking_no"] for c in page["items"]} == {housing, wages, accepted}
    first = page["items"][0]
    assert first["name"] == "张三" and first["phone"] == "13912345678"
    assert first["submitted_at"].endswith("Z")

    mine = await _json(await admin.get("/api/v1/cases", params={"department": ZJJ}), 200)
    assert {c["tracking_no"] for c in mine["items"]} == {housing, accepted}
    both = await admin.get(
        "/api/v1/cases?status=submitted,accepted&channel=web&flag=first_petition"
    )
    assert (await _json(both, 200))["total"] == 3
    repeated = await admin.get("/api/v1/cases?status=accepted&status=rejected")
    assert [c["tracking_no"] for c in (await _json(repeated, 200))["items"]] == [accepted]
    search = await _json(await admin.get("/api/v1/cases", params={"q": "漏水"}), 200)
    assert [c["tracking_no"] for c in search["items"]] == [housing]
    by_number = await admin.get("/api/v1/cases", params={"q": wages.lower()})
    assert [c["tracking_no"] for c in (await _json(by_number, 200))["items"]] == [wages]

    paged = await _json(
        await admin.get("/api/v1/cases?sort=tracking_no&order=asc&per_page=2&page=2"), 200
    )
    assert paged["pages"] == 2 and paged["per_page"] == 2
    assert [c["tracking_no"] for c in paged["items"]] == [sorted([housing, wages, accepted])[2]]

    handler = await api_for(client, services, "zjj")
    scoped = await _json(await handler.get("/api/v1/cases"), 200)
    assert {c["tracking_no"] for c in scoped["items"]} == {housing, accepted}

    viewer = await api_for(client, services, "viewer")
    masked = await _json(await viewer.get("/api/v1/cases"), 200)
    assert {c["phone"] for c in masked["items"]} == {"139****5678"}
    assert {c["name"] for c in masked["items"]} == {"张*"}


async def test_invalid_query_parameters_are_field_errors(client: Any, services: Services) -> None:
    admin = await api_for(client, services, "admin")
    bad = await _json(await admin.get("/api/v1/cases?page=0&status=lost&sort=name"), 422)
    assert bad["error"] == "validation_failed"
    assert {tuple(f["loc"][:2]) for f in bad["fields"]} == {
        ("query", "page"),
        ("query", "status"),
        ("query", "sort"),
    }
    unknown = await _json(await admin.get("/api/v1/cases?stauts=submitted"), 422)
    assert unknown["fields"][0]["loc"] == ["query", "stauts"]
    backwards = await admin.get("/api/v1/cases?submitted_from=2026-05-02&submitted_to=2026-05-01")
    assert (await _json(backwards, 422))["fields"][0]["loc"] == ["query", "submitted_from"]
    ancient = await admin.get("/api/v1/cases?submitted_from=0001-01-01")
    assert (await _json(ancient, 422))["fields"][0]["loc"] == ["query", "submitted_from"]
    # the date range is office days, the last one included
    day = await admin.get("/api/v1/cases?submitted_from=2000-01-01&submitted_to=2999-12-31")
    assert (await _json(day, 200))["total"] == 0


async def test_case_detail_actions_and_their_errors(client: Any, services: Services) -> None:
    number = await file_case(services, ZJJ)
    api = await api_for(client, services, "zjj")
    detail = await _json(await api.get(f"/api/v1/cases/{number}"), 200)
    assert detail["tracking_no"] == number and detail["answers"]["request"] == "工资被拖欠三个月"
    assert "accept" in detail["allowed_actions"] and "answer" not in detail["allowed_actions"]
    dashed = f"{number[:8]}-{number[8:14]}-{number[14:]}"
    assert (await _json(await api.get(f"/api/v1/cases/{dashed.lower()}"), 200))["status"]

    accepted = await _json(await api.act(number, "accept", {"note": "材料齐全"}), 200)
    assert accepted["case"]["status"] == "accepted" and accepted["pushes"] == 1
    assert "assign" in accepted["allowed_actions"]
    again = await _json(await api.act(number, "accept"), 409)
    assert again["error"] == "conflict"

    assigned = await _json(await api.act(number, "assign", {}), 200)
    assert assigned["case"]["status"] == "assigned"
    missing = await _json(await api.act(number, "extend", {"days": 10}), 422)
    assert [f["loc"] for f in missing["fields"]] == [["body", "reason"]]
    coerced = await _json(await api.act(number, "extend", {"days": "10", "reason": "x"}), 422)
    assert coerced["fields"][0]["loc"] == ["body", "days"]
    extra = await _json(await api.act(number, "start", {"note": "", "force": True}), 422)
    assert extra["fields"][0]["loc"] == ["body", "force"]
    blank = await _json(await api.act(number, "reply", {"text": "   "}), 422)
    assert blank["fields"][0]["loc"] == ["body", "text"]
    malformed = await api.client.post(
        f"/api/v1/cases/{number}/actions/note",
        data=b'{"text": ',
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert (await _json(malformed, 400))["error"] == "malformed_json"
    form = await api.client.post(
        f"/api/v1/cases/{number}/actions/note", data={"text": "x"}, headers=api.headers
    )
    assert (await _json(form, 415))["error"] == "unsupported_media_type"
    too_long = await _json(await api.act(number, "reply", {"text": "长" * 2001}), 422)
    assert too_long["fields"][0]["type"] == "string_too_long"

    await _json(await api.act(number, "note", {"text": "<script>alert(1)</script> 内部"}), 200)
    await _json(await api.act(number, "flag", {"flag": "urgent"}), 200)
    replied = await _json(await api.act(number, "reply", {"text": "您好，已转办理单位。"}), 200)
    assert replied["pushes"] == 1
    answered = await _json(
        await api.act(number, "answer", {"outcome": "supported", "text": "已责令补发工资。"}), 200
    )
    assert answered["case"]["status"] == "answered"

    detail = await _json(await api.get(f"/api/v1/cases/{number}"), 200)
    kinds = [(e["kind"], e["public"]) for e in detail["timeline"]]
    assert ("note", False) in kinds and ("reply", True) in kinds
    note = next(e for e in detail["timeline"] if e["kind"] == "note")
    assert note["note"] == "<script>alert(1)</script> 内部"  # JSON is data: kept as typed
    assert "urgent" in detail["flags"] and detail["answer_outcome"] == "supported"

    actions = [a for _, a, _ in await audit_entries(services)]
    for expected in ("case.read", "case.accept", "case.assign", "case.reply", "case.answer"):
        assert expected in actions
    assert {d["via"] for _, a, d in await audit_entries(services) if a.startswith("case.")} == {
        "token"
    }


async def test_errors_under_the_api_are_json(client: Any, services: Services) -> None:
    api = await api_for(client, services, "admin")
    assert (await _json(await api.get("/api/v1/nothing-here"), 404))["error"] == "not_found"
    assert (await _json(await api.get("/api/v1/cases/XF2611210482735"), 404))["error"] == (
        "not_found"
    )
    assert (await _json(await api.get("/api/v1/cases/not-a-number"), 404))["error"]
    wrong_method = await api.client.delete("/api/v1/me", headers=api.headers)
    assert (await _json(wrong_method, 405))["error"] == "method_not_allowed"
    number = await file_case(services, ZJJ)
    assert (await _json(await api.act(number, "approve", {}), 404))["error"] == "not_found"
    assert (await _json(await api.get("/api/v1/broadcasts/99999999999999999999"), 404))["error"]


async def test_attachments_download_inline_only_when_safe(client: Any, services: Services) -> None:
    number = await file_case(services, ZJJ)
    files = services.settings.attachments_dir
    files.mkdir(parents=True, exist_ok=True)
    (files / "photo.png").write_bytes(b"\x89PNG fake")
    (files / "page.html").write_bytes(b"<script>alert(1)</script>")
    async with services.db.transaction() as conn:
        row, _, _ = await db_state(services, number)
        ids = [
            await attachments.add(
                conn,
                contact_id=row.contact_id,
                kind=kind,
                media_ref=ref,
                now=row.submitted_at,
                mime=mime,
                filename=name,
                size=9,
            )
            for kind, ref, mime, name in (
                ("image", "photo.png", "image/png", "现场照片.png"),
                ("file", "page.html", "text/html", "page.html"),
            )
        ]
        await attachments.link_to_case(conn, ids, row.id)
    api = await api_for(client, services, "zjj")
    detail = await _json(await api.get(f"/api/v1/cases/{number}"), 200)
    urls = [a["url"] for a in detail["attachments"]]
    photo = await api.get(urls[0])
    assert photo.status == 200 and photo.headers["Content-Type"] == "image/png"
    assert photo.headers["Content-Disposition"].startswith("inline")
    assert await photo.read() == b"\x89PNG fake"
    page = await api.get(urls[1])
    assert page.headers["Content-Type"] == "application/octet-stream"
    assert page.headers["Content-Disposition"].startswith("attachment")
    other = await api_for(client, services, "rsj")
    assert (await other.get(urls[0])).status == 404


async def test_dashboard(client: Any, services: Services) -> None:
    await file_case(services, ZJJ)
    await file_case(services, RSJ)
    api = await api_for(client, services, "admin")
    admin = await _json(await api.get("/api/v1/dashboard"), 200)
    assert admin["counts_by_status"] == {"submitted": 2}
    assert len(admin["weekly"]) == 12 and sum(w["total"] for w in admin["weekly"]) == 2
    assert admin["period"]["kind"] == "month" and admin["period"]["first"].endswith("-01")
    assert set(admin["kpis"]) >= {"on_time", "timely_acceptance", "first_settled", "total"}
    bad = await api.get("/api/v1/dashboard?period=custom&from=2026-03-02")
    assert bad.status == 422
    handler = await api_for(client, services, "zjj")
    assert (await _json(await handler.get("/api/v1/dashboard"), 200))["counts_by_status"] == {
        "submitted": 1
    }


async def test_exports_follow_the_filter_and_the_scope(client: Any, services: Services) -> None:
    housing = await file_case(services, ZJJ, request='=HYPERLINK("http://evil")')
    await file_case(services, RSJ)
    handler = await api_for(client, services, "zjj")
    response = await handler.get("/api/v1/cases/export.csv?lang=en")
    assert response.status == 200 and response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = (await response.read()).decode("utf-8")
    assert text.startswith('\ufeff"Tracking number"')  # every field quoted
    lines = text.strip().splitlines()
    assert len(lines) == 2 and housing[:8] in lines[1]
    assert "'=HYPERLINK" in text  # formula neutralised
    admin = await api_for(client, services, "admin")
    xlsx = await admin.get("/api/v1/cases/export.xlsx?status=submitted")
    assert xlsx.status == 200
    sheet = load_workbook(io.BytesIO(await xlsx.read())).active
    assert sheet is not None and sheet.max_row == 3
    viewer = await api_for(client, services, "viewer")
    assert (await viewer.get("/api/v1/cases/export.csv")).status == 403
    actions = [a for _, a, _ in await audit_entries(services)]
    assert actions.count("case.export") == 2


async def test_broadcasts_preview_send_progress_cancel(client: Any, services: Services) -> None:
    await file_case(services, ZJJ, user="citizen-a")
    await file_case(services, RSJ, user="citizen-b")
    api = await api_for(client, services, "duban")
    preview = await _json(
        await api.post("/api/v1/broadcasts/preview", {"audience": {"kind": "all"}}), 200
    )
    assert preview == {
        "by_channel": {"web": 2},
        "total": 2,
        "left_out": {"channel_off": 0, "unreachable": 0, "unsubscribed": 0},
        "needs_approval": True,
    }
    empty = await _json(
        await api.post("/api/v1/broadcasts/preview", {"audience": {"kind": "filter"}}), 422
    )
    assert empty["fields"][0]["loc"] == ["body", "audience"]
    started = await _json(
        await api.post(
            "/api/v1/broadcasts",
            {"audience": {"kind": "filter", "regions": ["330106"]}, "text": "端午节放假通知"},
        ),
        201,
    )
    assert started["total"] == 2 and started["pending"] == 2 and started["status"] == "sending"
    listed = await _json(await api.get("/api/v1/broadcasts"), 200)
    assert [b["id"] for b in listed["items"]] == [started["id"]]
    cancelled = await _json(await api.post(f"/api/v1/broadcasts/{started['id']}/cancel"), 200)
    assert cancelled["status"] == "cancelled" and cancelled["cancelled"] == 2
    again = await _json(await api.post(f"/api/v1/broadcasts/{started['id']}/cancel"), 409)
    assert again["error"] == "conflict"
    assert (await _json(await api.get("/api/v1/broadcasts/999"), 404))["error"] == "not_found"
    handler = await api_for(client, services, "zjj")
    refused = await handler.post("/api/v1/broadcasts", {"audience": {"kind": "all"}, "text": "x"})
    assert (await _json(refused, 403))["error"] == "forbidden"


async def test_audit_log_for_admins(client: Any, services: Services) -> None:
    number = await file_case(services, ZJJ)
    handler = await api_for(client, services, "zjj")
    await _json(await handler.get(f"/api/v1/cases/{number}"), 200)
    await _json(await handler.act(number, "accept"), 200)
    admin = await api_for(client, services, "admin")
    page = await _json(await admin.get("/api/v1/audit", params={"case": number}), 200)
    assert [(e["actor"], e["action"]) for e in page["items"]] == [
        ("zjj", "case.accept"),
        ("zjj", "case.read"),
    ]
    assert page["items"][0]["case"] == number and page["next_before_id"] is None
    first = await _json(await admin.get("/api/v1/audit?actor=zjj&limit=1"), 200)
    assert first["next_before_id"] == first["items"][0]["id"]
    older = await _json(
        await admin.get(f"/api/v1/audit?actor=zjj&limit=1&before_id={first['next_before_id']}"),
        200,
    )
    assert older["items"][0]["action"] == "case.read"
    supervisor = await api_for(client, services, "duban")
    assert (await supervisor.get("/api/v1/audit")).status == 403
