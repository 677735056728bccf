"""登记 by staff (来信, 来访, 来电) through the API, on SQLite and PostgreSQL: the chat's form
checks the answers (400 with one error per field), a visit of five or more people needs
its representatives, the clocks of a letter start on the day it arrived, the petitioner
is told by SMS or on paper (and a notice nothing can deliver is recorded failed, not
lost), and the office's own files never reach the petitioner unless part of a document.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import FormData
from openpyxl import load_workbook
from sqlalchemy import select

from bot.app import Services, build_services, create_app
from bot.case_links import LINK, sign
from bot.cases.clocks import due_at
from bot.cases.registration import view_for_owner
from bot.storage import cases, contacts
from bot.storage.outbox import NOT_CONFIGURED, PAPER_ONLY
from bot.storage.tables import audit_log, outbox
from bot.web.api import ROUTES
from bot.web.openapi import document
from tests.web.api_support import api_for
from tests.web.conftest import ACCOUNTS, PASSWORD, log_in

TZ = ZoneInfo("Asia/Shanghai")
PUBLIC = "https://xinfang.example.gov.cn"
SECRET_KEY = "test-secret-key-" + "r" * 32
REGISTER = "/api/v1/registrations"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SECRET_FILE = "调查笔录-内部.pdf"  # an office file: never on the petitioner's side


def answers(**changes: Any) -> dict[str, Any]:
    """A 申诉求决 petition as a clerk takes it down (labels, as typed)."""
    base: dict[str, Any] = {
        "appeal_type": "申诉求决",
        "name": "李四",
        "phone": "138 1234 5678",
        "address": "杭州市上城区望江路1号",
        "region": "上城区",
        "incident_place": "望江路1号小区",
        "category": "征收拆迁与城建",
        "respondent": "某物业公司",
        "request": "请求小区物业依法维修漏水的屋顶",
        "facts": "自2026年6月起屋顶漏水，多次找物业无人处理，家中墙面发霉。",
        "people_count": "1",
        "legal_status": "没有",
        "reported_before": "否",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
async def services(make_settings: Any) -> Services:
    """Services with case links on (the citizen page), and the console's accounts."""
    built = build_services(make_settings(public_url=PUBLIC, secret_key=SECRET_KEY))
    for login, (role, departments) in ACCOUNTS.items():
        await built.accounts.add(login, PASSWORD, role=role, departments=departments)
    return built


@pytest.fixture
async def client(services: Services, aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(services, run_worker=False))


async def register(api: Any, channel: str, received_on: str, **body: Any) -> Any:
    payload = {"channel": channel, "received_on": received_on, **body}
    return await api.post(REGISTER, payload)


@pytest.mark.parametrize("channel", ["letter", "visit", "phone"])
async def test_each_kind_is_registered_routed_and_dated(
    client: Any, services: Services, channel: str
) -> None:
    admin = await api_for(client, services, "admin")
    today = datetime.now(TZ).date()
    received = (today - timedelta(days=2)).isoformat()
    resp = await register(admin, channel, received, answers=answers())
    assert resp.status == 201, await resp.text()
    out = await resp.json()
    assert out["notice_channel"] == "sms"
    number = out["tracking_no"]
    detail = await (await admin.get(f"/api/v1/cases/{number}")).json()
    assert detail["channel"] == channel
    assert detail["department"]  # routed like a chat petition (region + subject)
    assert detail["answers"]["appeal_type"] == "claim"
    assert detail["answers"]["phone"] == "13812345678"
    first = detail["timeline"][0]
    assert (first["kind"], first["actor"]) == ("submitted", "staff:admin")
    assert first["data"]["arrival"] == channel
    submitted = datetime.fromisoformat(detail["submitted_at"]).astimezone(TZ)
    assert submitted.date().isoformat() == received
    async with services.db.read() as conn:
        case = await cases.by_tracking_no(conn, number)
        assert case is not None
        contact = await contacts.get(conn, case.contact_id)
        audited = (
            (
                await conn.execute(
                    select(audit_log.c.actor).where(audit_log.c.action == "case.register")
                )
            )
            .scalars()
            .all()
        )
    assert (contact.address.channel, contact.address.address) == ("sms", "+8613812345678")
    assert audited == ["admin"]
    # the channel of arrival is a filter of the list
    listed = await (await admin.get(f"/api/v1/cases?channel={channel}")).json()
    assert [c["tracking_no"] for c in listed["items"]] == [number]


async def test_the_forms_rules_answer_400_with_field_errors(
    client: Any, services: Services
) -> None:
    admin = await api_for(client, services, "admin")
    today = datetime.now(TZ).date().isoformat()
    bad = answers(phone="12345", request=None, category="没有这一类", colour="蓝")
    resp = await register(admin, "letter", today, answers=bad)
    assert resp.status == 400
    body = await resp.json()
    assert body["error"] == "invalid_petition"
    errors = {tuple(f["loc"]): f["type"] for f in body["fields"]}
    assert errors == {
        ("body", "answers", "phone"): "invalid.phone",
        ("body", "answers", "request"): "register.required",
        ("body", "answers", "category"): "invalid.choice_words",
        ("body", "answers", "colour"): "register.unknown_field",
    }
    assert all(f["msg"] and f["msg"] != f["type"] for f in body["fields"])
    future = (datetime.now(TZ).date() + timedelta(days=1)).isoformat()
    resp = await register(admin, "letter", future, answers=answers())
    assert resp.status == 400
    assert [f["loc"] for f in (await resp.json())["fields"]] == [["body", "received_on"]]
    # conditions: a claim is never anonymous; a consultation has no people count
    resp = await register(admin, "phone", today, answers=answers(anonymous="是"))
    assert resp.status == 201  # the anonymous question does not apply to a claim: dropped
    number = (await resp.json())["tracking_no"]
    detail = await (await admin.get(f"/api/v1/cases/{number}")).json()
    assert "anonymous" not in detail["answers"]
    # a malformed body is the API's own 422; a viewer may not register
    assert (await admin.post(REGISTER, {"channel": "fax", "received_on": today})).status == 422
    viewer = await api_for(client, services, "viewer")
    assert (await register(viewer, "letter", today, answers=answers())).status == 403
    async with services.db.read() as conn:
        assert len(await cases.for_contact(conn, 1, limit=100)) <= 1


async def test_a_group_visit_needs_its_representatives(client: Any, services: Services) -> None:
    admin = await api_for(client, services, "admin")
    today = datetime.now(TZ).date().isoformat()
    resp = await register(admin, "visit", today, answers=answers(people_count="6"))
    assert resp.status == 400
    fields = (await resp.json())["fields"]
    assert [(f["loc"][-1], f["type"]) for f in fields] == [("representatives", "register.required")]
    too_many = answers(people_count="6", representatives="甲、乙、丙、丁、戊、己")
    resp = await register(admin, "visit", today, answers=too_many)
    assert [f["type"] for f in (await resp.json())["fields"]] == ["invalid.names_too_many"]
    group = answers(
        people_count="六人",
        representatives=["张三", "李四"],
        representative_phones="13912345678、0571-87654321",
    )
    resp = await register(admin, "visit", today, answers=group)
    assert resp.status == 201, await resp.text()
    number = (await resp.json())["tracking_no"]
    detail = await (await admin.get(f"/api/v1/cases/{number}")).json()
    assert detail["people_count"] == 6
    assert detail["answers"]["representatives"] == ["张三", "李四"]
    assert detail["answers"]["representative_phones"] == ["13912345678", "+8657187654321"]
    assert "group_petition" in detail["flags"]
    # a viewer reads the representatives' numbers masked
    viewer = await api_for(client, services, "viewer")
    seen = await (await viewer.get(f"/api/v1/cases/{number}")).json()
    assert "13912345678" not in str(seen["answers"])


async def test_a_letters_clocks_start_on_the_day_it_arrived(
    client: Any, services: Services
) -> None:
    """A letter received 2026-11-20 and registered 2026-11-25: 受理 is due 15 days after
    the 20th (config/lifecycle.yaml, the office calendar), not after the 25th."""
    registered = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)
    services.casework.clock = lambda: registered.astimezone(UTC)
    admin = await api_for(client, services, "admin")
    resp = await register(admin, "letter", "2026-11-20", answers=answers())
    assert resp.status == 201, await resp.text()
    number = (await resp.json())["tracking_no"]
    async with services.db.read() as conn:
        case = await cases.by_tracking_no(conn, number)
    assert case is not None and case.due_at is not None
    config = services.casework.lifecycle.config
    arrival = datetime(2026, 11, 20, tzinfo=TZ)
    expected = due_at(arrival, config.clocks.acceptance, config.calendar, TZ)
    assert case.due_at == expected
    # 15 days from the 20th is Saturday 2026-12-05: a period ending on a day off ends on
    # the next working day (bot/cases/calendar.py), Monday the 7th
    assert case.due_at.astimezone(TZ).date() == date(2026, 12, 7)
    assert case.submitted_at.astimezone(TZ).date() == date(2026, 11, 20)
    late = due_at(registered, config.clocks.acceptance, config.calendar, TZ)
    assert case.due_at < late  # counting from registration would give the office 5 more days


async def test_notices_without_a_channel_are_recorded_failed(
    client: Any, services: Services
) -> None:
    """A landline: 书面告知, marked on the case page, its notices recorded as to be given on
    paper; a mobile while no SMS channel runs: failed with that reason; neither blocks
    the notices of other petitioners."""
    admin = await api_for(client, services, "admin")
    today = datetime.now(TZ).date().isoformat()
    landline = await register(admin, "letter", today, answers=answers(phone="0571-87654321"))
    assert (await landline.json())["notice_channel"] == "paper"
    paper_no = (await landline.json())["tracking_no"]
    mobile = await register(admin, "phone", today, answers=answers(phone="13712345678"))
    sms_no = (await mobile.json())["tracking_no"]
    for number in (paper_no, sms_no):
        assert (await admin.act(number, "accept")).status == 200
    async with services.db.read() as conn:
        rows = (
            await conn.execute(select(outbox.c.channel, outbox.c.status, outbox.c.last_error))
        ).all()
    by_channel = {r.channel: r for r in rows}
    assert by_channel["paper"].status == "failed"
    assert by_channel["paper"].last_error == PAPER_ONLY
    assert by_channel["sms"].status == "failed"
    assert by_channel["sms"].last_error.startswith(f"{NOT_CONFIGURED}: sms (set XINFANG_SMS_")
    detail = await (await admin.get(f"/api/v1/cases/{paper_no}")).json()
    reasons = [d["reason"] for e in detail["timeline"] for d in e["deliveries"]]
    assert reasons == ["paper_only"]
    # a notice to be given on paper is never queued again; cancelling it is how staff
    # record that it was handed over
    async with services.db.read() as conn:
        paper_id = (
            await conn.execute(select(outbox.c.id).where(outbox.c.channel == "paper"))
        ).scalar_one()
    retried = await (await admin.post("/api/v1/deliveries/retry", {"ids": [paper_id]})).json()
    assert retried["done"] == 0
    cancelled = await (await admin.post("/api/v1/deliveries/cancel", {"ids": [paper_id]})).json()
    assert cancelled["done"] == 1
    staff = await log_in(client, "admin")
    page = await (await staff.client.get(f"/staff/cases/{paper_no}")).text()
    assert "无电子联系方式，书面告知" in page
    page = await (await staff.client.get(f"/staff/cases/{sms_no}")).text()
    assert "无电子联系方式" not in page


async def test_office_files_never_reach_the_petitioner_unless_in_a_document(
    client: Any, services: Services
) -> None:
    admin = await api_for(client, services, "admin")
    today = datetime.now(TZ).date().isoformat()
    resp = await register(admin, "visit", today, answers=answers())
    number = (await resp.json())["tracking_no"]
    files = f"/api/v1/cases/{number}/files"

    def upload(name: str, origin: str, in_document: bool = False) -> FormData:
        form = FormData(quote_fields=False)  # UTF-8 names as browsers send them
        form.add_field("origin", origin)
        form.add_field("in_document", "true" if in_document else "false")
        form.add_field("file", PNG, filename=name, content_type="application/pdf")
        return form

    scan = await admin.post(files, data=upload("来访登记表.pdf", "petitioner"))
    assert scan.status == 201, await scan.text()
    secret = await admin.post(files, data=upload(SECRET_FILE, "staff"))
    assert secret.status == 201
    secret_id = (await secret.json())["id"]
    signed = await admin.post(files, data=upload("处理意见书-签批.pdf", "staff"))
    signed_id = (await signed.json())["id"]
    detail = await (await admin.get(f"/api/v1/cases/{number}")).json()
    origins = {a["filename"]: (a["origin"], a["in_document"]) for a in detail["attachments"]}
    assert origins == {
        "来访登记表.pdf": ("petitioner", False),
        SECRET_FILE: ("staff", False),
        "处理意见书-签批.pdf": ("staff", False),
    }
    staff = await log_in(client, "admin")
    page = await (await staff.client.get(f"/staff/cases/{number}")).text()
    assert page.index("来访登记表.pdf") < page.index('id="staff-files"') < page.index(SECRET_FILE)

    async def citizen_sees() -> str:
        async with services.db.read() as conn:
            case = await cases.by_tracking_no(conn, number)
            assert case is not None
            status = await view_for_owner(conn, case)
        token = sign(SECRET_KEY, LINK, case.contact_id, datetime.now(UTC) + timedelta(days=1))
        shown = await client.get(f"/my/cases/{number}?k={token}")
        assert shown.status == 200
        return str(status) + await shown.text()

    seen = await citizen_sees()
    assert SECRET_FILE not in seen and "处理意见书-签批" not in seen
    path = f"{files}/{signed_id}/in_document"
    marked = await admin.client.put(path, json={"in_document": True}, headers=admin.headers)
    assert marked.status == 200, await marked.text()
    seen = await citizen_sees()
    assert "处理意见书-签批.pdf" in seen and SECRET_FILE not in seen
    # only office files are marked; a petitioner's material is not an office file
    scan_id = next(a["id"] for a in detail["attachments"] if a["origin"] == "petitioner")
    refused = await admin.client.put(
        f"{files}/{scan_id}/in_document", json={"in_document": True}, headers=admin.headers
    )
    assert refused.status == 404
    # a viewer may not upload, and sees no link to the originals
    viewer = await api_for(client, services, "viewer")
    assert (await viewer.post(files, data=upload("x.pdf", "staff"))).status == 403
    seen_by_viewer = await (await viewer.get(f"/api/v1/cases/{number}")).json()
    assert all(a["url"] is None for a in seen_by_viewer["attachments"])
    assert secret_id


async def test_the_channel_of_arrival_is_a_dimension_of_the_dashboard_and_reports(
    client: Any, services: Services
) -> None:
    admin = await api_for(client, services, "admin")
    today = datetime.now(TZ).date().isoformat()
    for channel in ("letter", "letter", "visit"):
        assert (await register(admin, channel, today, answers=answers())).status == 201
    report = await (await admin.get("/api/v1/reports/departments")).json()
    totals = {code: kpis["total"]["denominator"] for code, kpis in report["by_channel"].items()}
    assert totals == {"letter": 2, "visit": 1}
    workbook = await admin.get("/api/v1/reports/departments.xlsx")
    assert workbook.status == 200
    sheet = load_workbook(io.BytesIO(await workbook.read()))["按渠道"]
    rows = {r[0]: r[1] for r in sheet.iter_rows(min_row=3, values_only=True)}
    assert rows["来信"] == 2 and rows["来访"] == 1 and rows["合计"] == 3
    staff = await log_in(client, "admin")
    page = await (await staff.client.get("/staff/")).text()
    table = page[page.index('id="report-by-channel"') :]
    assert "来信" in table and "来访" in table
    listed = await (await staff.client.get("/staff/cases?channel=visit")).text()
    assert listed.count("/staff/cases/XF") >= 1
    assert "来信" in listed  # the filter offers every channel of arrival by name


def test_the_openapi_document_describes_registration_and_files() -> None:
    paths = document(ROUTES)["paths"]
    register_op = paths["/api/v1/registrations"]["post"]
    assert register_op["x-permission"] == "case.act"
    assert set(register_op["responses"]) >= {"201", "400", "403", "422"}
    body = register_op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/RegisterIn"}
    upload = paths["/api/v1/cases/{tracking_no}/files"]["post"]["requestBody"]["content"]
    assert upload["multipart/form-data"]["schema"]["required"] == ["file"]
    assert "put" in paths["/api/v1/cases/{tracking_no}/files/{file_id}/in_document"]
