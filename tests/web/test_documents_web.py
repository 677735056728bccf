"""Official documents through the console, the API and the citizen's signed link.

The case page lists each document (kind, 文号, date) with links to its PDF, and records
paper delivery; a viewer gets the PDF with the petitioner's personal data masked; a case
outside a handler's departments hides its documents (404). The push of the action links
to its document; the signed link opens only that citizen's documents, of that case.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from bot.app import Services, build_services, create_app
from bot.staff.access import Role, StaffMember
from bot.storage import cases, documents
from bot.storage.tables import audit_log, document_deliveries, outbox
from tests.cases.lifecycle_support import make_case
from tests.web.api_support import api_for
from tests.web.conftest import ACCOUNTS, PASSWORD, log_in

PUBLIC = "https://xinfang.example.gov.cn"
SECRET_KEY = "test-secret-key-" + "d" * 32
SUPERVISOR = StaffMember(2, "duban", "", Role.SUPERVISOR, ())
ZJJ = "330102-zjj"  # handler "zjj" works here; handler "rsj" does not
NAME, PHONE = "李四海", "13987654321"
SECRET = "机密批注"
OFFICE = ZoneInfo("Asia/Shanghai")  # XINFANG_TIMEZONE
_DOC_LINK = re.compile(r"（[^（）]*〔\d{4}〕\d+号）：(\S+)")


@pytest.fixture
async def services(make_settings: Any) -> Services:
    """Services with case links on, and the console's accounts."""
    built = build_services(make_settings(public_url=PUBLIC, secret_key=SECRET_KEY))
    for login, (role, departments) in ACCOUNTS.items():
        await built.accounts.add(login, PASSWORD, role=role, departments=departments)
    return built


@pytest.fixture
def app(services: Services) -> Any:
    return create_app(services, run_worker=False)


async def accepted_case(services: Services, user: str) -> str:
    """A case of ZJJ accepted by the supervisor (with an internal note); its number."""
    case_id = await make_case(
        services.db,
        datetime.now(UTC) - timedelta(days=1),
        user=user,
        department=ZJJ,
        answers={"request": "楼道漏水，请求维修", "name": NAME, "phone": PHONE},
        phone=PHONE,
    )
    async with services.db.transaction() as conn:
        await cases.update_case(conn, case_id, datetime.now(UTC), name=NAME)
        row = await cases.by_id(conn, case_id)
    assert row is not None
    note = f"{SECRET}：该户情绪激动，注意稳控"
    await services.casework.act(SUPERVISOR, row.tracking_no, "accept", {"note": note})
    return row.tracking_no


async def document_of(services: Services, number: str) -> documents.DocumentRow:
    async with services.db.read() as conn:
        row = await cases.by_tracking_no(conn, number)
        assert row is not None
        (doc,) = await documents.of_case(conn, row.id)
    return doc


def pdf_text(body: bytes) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages))


async def pushed_document_links(services: Services) -> list[str]:
    async with services.db.read() as conn:
        rows = (await conn.execute(select(outbox.c.payload).where(outbox.c.kind == "push"))).all()
    return [url for r in rows for url in _DOC_LINK.findall(str(r.payload.get("text", "")))]


async def test_case_page_lists_documents_and_records_paper_delivery(
    services: Services, app: Any, aiohttp_client: Any
) -> None:
    number = await accepted_case(services, "citizen-a")
    doc = await document_of(services, number)
    assert doc.kind == "acceptance" and doc.event_id is not None
    client = await aiohttp_client(app)
    staff = await log_in(client, "zjj")
    page = await (await client.get(f"/staff/cases/{number}")).text()
    url = f"/staff/cases/{number}/documents/{doc.id}"
    assert 'id="documents"' in page and doc.number in page and "受理告知书" in page
    assert f'href="{url}"' in page
    assert "纸质文书尚未登记送达" in page

    pdf = await client.get(url)
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.headers["Content-Disposition"].startswith("inline")
    text = pdf_text(await pdf.read())
    assert NAME in text and PHONE in text and doc.number in text and SECRET not in text

    # paper delivery: a day in the future is refused, a posted copy is recorded and shown
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    refused = await staff.post(f"{url}/deliveries", {"way": "post", "delivered_on": tomorrow})
    assert refused.status == 303
    today = datetime.now(OFFICE).date().isoformat()
    async with services.db.read() as conn:
        assert not (await conn.execute(select(document_deliveries))).all()
    done = await staff.post(
        f"{url}/deliveries", {"way": "post", "delivered_on": today, "note": "挂号信 XA123"}
    )
    assert done.status == 303
    page = await (await client.get(f"/staff/cases/{number}")).text()
    assert "邮寄送达" in page and "挂号信 XA123" in page and "已登记" in page
    async with services.db.read() as conn:
        actions = [r.action for r in (await conn.execute(select(audit_log))).all()]
    assert "document.read" in actions and "document.delivery" in actions


async def test_viewer_gets_it_masked_and_others_departments_not_at_all(
    services: Services, app: Any, aiohttp_client: Any
) -> None:
    number = await accepted_case(services, "citizen-a")
    doc = await document_of(services, number)
    url = f"/staff/cases/{number}/documents/{doc.id}"
    client = await aiohttp_client(app)
    viewer = await log_in(client, "viewer")
    page = await (await client.get(f"/staff/cases/{number}")).text()
    assert "个人信息已遮盖" in page and "登记纸质送达" not in page
    text = pdf_text(await (await client.get(url)).read())
    assert NAME not in text and PHONE not in text and "李**" in text and doc.number in text
    refused = await viewer.post(f"{url}/deliveries", {"way": "in_person", "delivered_on": "x"})
    assert refused.status == 403

    other = await aiohttp_client(app)
    await log_in(other, "rsj")  # a handler of another department
    assert (await other.get(url)).status == 404
    wrong_case = await accepted_case(services, "citizen-b")
    assert (await client.get(f"/staff/cases/{wrong_case}/documents/{doc.id}")).status == 404


async def test_api_lists_serves_and_records(
    services: Services, app: Any, aiohttp_client: Any
) -> None:
    number = await accepted_case(services, "citizen-a")
    client = await aiohttp_client(app)
    api = await api_for(client, services, "zjj")
    listed = await api.get(f"/api/v1/cases/{number}/documents")
    assert listed.status == 200, await listed.text()
    (item,) = (await listed.json())["items"]
    assert item["kind"] == "acceptance" and "〔" in item["number"] and item["paper"] == []
    pdf = await api.get(item["pdf"])
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf"
    path = f"/api/v1/cases/{number}/documents/{item['id']}/deliveries"
    today = datetime.now(OFFICE).date().isoformat()
    made = await api.post(path, {"way": "in_person", "delivered_on": today})
    assert made.status == 201, await made.text()
    assert (await made.json())["way"] == "in_person"
    late = await api.post(path, {"way": "in_person", "delivered_on": "2020-01-01"})
    assert late.status == 422
    again = await (await api.get(f"/api/v1/cases/{number}/documents")).json()
    assert [p["way"] for p in again["items"][0]["paper"]] == ["in_person"]
    outsider = await api_for(client, services, "rsj")
    assert (await outsider.get(f"/api/v1/cases/{number}/documents")).status == 404
    viewer = await api_for(client, services, "viewer")
    assert (await viewer.post(path, {"way": "post", "delivered_on": today})).status == 403


async def test_citizen_link_serves_only_that_citizens_documents(
    services: Services, app: Any, aiohttp_client: Any
) -> None:
    mine = await accepted_case(services, "citizen-a")
    theirs = await accepted_case(services, "citizen-b")
    my_doc, their_doc = await document_of(services, mine), await document_of(services, theirs)
    links = await pushed_document_links(services)
    assert len(links) == 2, "each acceptance push links to its 受理告知书"
    (link,) = [u for u in links if f"/documents/{my_doc.id}?" in u]
    assert f"/my/cases/{mine}/" in link

    client = await aiohttp_client(app)
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC
    first = await client.get(f"{parts.path}?{parts.query}", allow_redirects=False)
    assert first.status == 303 and first.headers["Location"] == parts.path
    pdf = await client.get(parts.path)
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf"
    text = pdf_text(await pdf.read())
    assert my_doc.number in text and NAME in text and SECRET not in text
    page = await (await client.get(f"/my/cases/{mine}")).text()
    assert my_doc.number in page, "the case page lists the documents too"

    # the other citizen's document: not by its own path, not under my case number
    for path in (
        f"/my/cases/{theirs}/documents/{their_doc.id}",
        f"/my/cases/{mine}/documents/{their_doc.id}",
    ):
        assert (await client.get(path)).status == 404
    # nobody without a session; an altered link is refused
    stranger = await aiohttp_client(app)
    assert (await stranger.get(parts.path)).status == 403
    forged = parts.query[:-3] + "abc"
    assert (await stranger.get(f"{parts.path}?{forged}", allow_redirects=False)).status == 403


async def test_each_petitioner_of_a_linked_group_gets_their_own_document(
    services: Services,
) -> None:
    numbers = []
    for user in ("citizen-a", "citizen-b"):
        case_id = await make_case(
            services.db, datetime.now(UTC), user=user, department=ZJJ, phone=PHONE
        )
        async with services.db.read() as conn:
            row = await cases.by_id(conn, case_id)
        assert row is not None
        numbers.append(row.tracking_no)
    first, second = numbers
    await services.casework.lifecycle.link(second, first, actor="duban")
    await services.casework.act(SUPERVISOR, first, "accept", {})
    issued = [await document_of(services, number) for number in numbers]
    assert [d.kind for d in issued] == ["acceptance", "acceptance"]
    assert sorted(d.seq for d in issued) == [1, 2], "one number each, no gap"
    links = await pushed_document_links(services)
    for doc, number in zip(issued, numbers, strict=True):
        assert [u for u in links if f"/my/cases/{number}/documents/{doc.id}?" in u]


async def test_a_petitioner_joining_an_answered_matter_gets_the_opinion_as_a_document(
    services: Services,
) -> None:
    first = await accepted_case(services, "citizen-a")
    await services.casework.act(SUPERVISOR, first, "assign", {"department": ZJJ})
    opinion = "经核实，物业公司已完成防水维修。"
    await services.casework.act(
        SUPERVISOR, first, "answer", {"outcome": "supported", "text": opinion}
    )
    case_id = await make_case(services.db, datetime.now(UTC), user="citizen-b", department=ZJJ)
    async with services.db.read() as conn:
        joining = await cases.by_id(conn, case_id)
    assert joining is not None
    await services.casework.lifecycle.link(joining.tracking_no, first, actor="duban")
    async with services.db.read() as conn:
        after = await cases.by_id(conn, case_id)
        (doc,) = await documents.of_case(conn, case_id)
    assert after is not None and after.request_until is not None
    assert doc.kind == "opinion" and doc.seq == 2, "the matter's second 处理意见书"
    assert doc.data["opinion"] == opinion and doc.data["remedy"] == "review"
    until = after.request_until.astimezone(OFFICE).date()
    assert doc.data["remedy_until"] == f"{until.year}年{until.month}月{until.day}日"
    links = await pushed_document_links(services)
    assert [u for u in links if f"/my/cases/{joining.tracking_no}/documents/{doc.id}?" in u]
