"""The citizen's case page (/my): reached by a signed link from a push or from the web chat,
never otherwise; another contact's case is "not found"; the buttons act through the
lifecycle service as the conversation does, and staff see what the citizen did; internal
notes never reach the page; every written opinion is shown in full, in order.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from bot.app import Services, build_services, create_app
from bot.case_links import LINK, sign
from bot.domain.tracking import format_tracking_no
from bot.staff.access import Role, StaffMember
from bot.storage import cases
from bot.storage.tables import cases as case_table
from bot.storage.tables import contacts, outbox
from tests.cases.lifecycle_support import make_case
from tests.web.conftest import ACCOUNTS, PASSWORD

PUBLIC = "https://xinfang.example.gov.cn"
SECRET_KEY = "test-secret-key-" + "x" * 32
SUPERVISOR = StaffMember(2, "duban", "", Role.SUPERVISOR, ())
REVIEWER = StaffMember(2, "duban-fucha", "", Role.SUPERVISOR, ())  # 复查
RECHECKER = StaffMember(1, "admin", "", Role.ADMIN, ())  # 复核
MARKER = "机密批注"  # every internal note carries it; the page never may
ZJJ = "330102-zjj"
LONG = "经核实，" + "该路段由镇政府负责维修，已列入今年计划。" * 30  # > the 300 of a status answer
_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
_LINK = re.compile(r"查看详情：(\S+)")


def note(action: str) -> str:
    return f"{MARKER}[{action}]：该户多次越级上访，注意稳控"


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


async def new_case(
    services: Services, user: str, request: str = "村道损坏三年，请求修路", lang: str = "zh"
) -> str:
    answers = {"request": request, "name": "王小明", "phone": "13912345678"}
    case_id = await make_case(
        services.db,
        datetime.now(UTC) - timedelta(days=1),
        user=user,
        lang=lang,
        department=ZJJ,
        answers=answers,
        phone="13912345678",
    )
    async with services.db.read() as conn:
        row = await cases.by_id(conn, case_id)
    assert row is not None
    return row.tracking_no


async def act(
    services: Services, number: str, action: str, by: StaffMember = SUPERVISOR, **params: Any
) -> None:
    """A staff action with an internal note carrying the marker."""
    texts = {"text": note(action)} if action == "note" else {"note": note(action)}
    await services.casework.act(by, number, action, {**params, **texts})


async def answered(services: Services, number: str) -> None:
    for action, params in (
        ("accept", {}),
        ("assign", {"department": ZJJ}),
        ("note", {}),
        ("answer", {"outcome": "supported", "text": LONG}),
    ):
        await act(services, number, action, **params)


async def pushed_links(services: Services, number: str) -> list[str]:
    """The case-page links in the pushes written for ``number``."""
    async with services.db.read() as conn:
        rows = (await conn.execute(select(outbox.c.payload).where(outbox.c.kind == "push"))).all()
    links = []
    for row in rows:
        for url in _LINK.findall(str(row.payload.get("text", ""))):
            if number in url:
                links.append(url)
                # the same link rides with the notice for a WeChat template message
                assert row.payload["template"]["url"] == url
    return links


async def open_link(client: Any, url: str) -> Any:
    """Open a link from a push as a citizen would (the test server stands for the origin)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC
    first = await client.get(f"{parts.path}?{parts.query}", allow_redirects=False)
    assert first.status == 303, await first.text()
    assert first.headers["Location"] == parts.path  # the token leaves the address bar
    cookie = first.cookies["xf_my"]
    assert cookie["httponly"] and cookie["path"] == "/my" and cookie["samesite"] == "Lax"
    return await client.get(parts.path)


async def csrf_of(page: Any) -> str:
    match = _CSRF.search(await page.text())
    assert match, "the page carries the CSRF token"
    return match.group(1)


async def test_signed_link_opens_the_case_and_the_buttons_work(
    services: Services, app: Any, aiohttp_client: Any
) -> None:
    number = await new_case(services, "citizen-a")
    await answered(services, number)
    links = await pushed_links(services, number)
    assert len(links) == 3, "accepted, assigned and answered each carry the link"
    client = await aiohttp_client(app)
    page = await open_link(client, links[-1])
    assert page.status == 200
    body = await page.text()
    assert format_tracking_no(number) in body and "已答复" in body
    assert LONG in body, "the opinion in full"
    assert "已受理" in body and "已出具处理意见（支持）" in body
    assert "申请复查" in body and "满意" in body
    assert MARKER not in body

    # rating with a comment, through the form
    csrf = await csrf_of(page)
    path = f"/my/cases/{number}"
    form = {"_csrf": csrf, "rating": "basically_satisfied", "comment": "路修好了一半"}
    done = await client.post(f"{path}/rate", data=form, allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == f"{path}?done=rate"
    shown = await (await client.get(done.headers["Location"])).text()
    assert "感谢您的评价" in shown and "基本满意" in shown

    # 复查 needs a reason; with one it is filed and the status changes
    refused = await client.post(f"{path}/review", data={"_csrf": csrf, "reason": " "})
    assert refused.status == 409 and "请写明申请理由" in await refused.text()
    reason = "路面仍有大坑，没有修完"
    filed = await client.post(
        f"{path}/review", data={"_csrf": csrf, "reason": reason}, allow_redirects=False
    )
    assert filed.status == 303
    shown = await (await client.get(filed.headers["Location"])).text()
    assert "已收到您对信访事项" in shown and "已申请复查" in shown
    again = await client.post(f"{path}/review", data={"_csrf": csrf, "reason": reason})
    assert again.status == 409 and "已在复查" in await again.text()

    # staff see both on the case's timeline
    detail = await services.casework.detail(SUPERVISOR, number)
    assert detail.case.status == "review_requested"
    assert detail.case.rating == "basically_satisfied"
    assert detail.case.rating_comment == "路修好了一半"
    kinds = {e.kind: e for e in detail.events}
    assert kinds["rate"].actor == "citizen"
    assert kinds["request_review"].actor == "citizen"
    assert kinds["request_review"].data["reason"] == reason


async def test_no_csrf_no_action(services: Services, app: Any, aiohttp_client: Any) -> None:
    number = await new_case(services, "citizen-a")
    await answered(services, number)
    client = await aiohttp_client(app)
    page = await open_link(client, (await pushed_links(services, number))[-1])
    csrf = await csrf_of(page)
    path = f"/my/cases/{number}/rate"
    for form, headers in (
        ({"rating": "satisfied"}, {}),
        ({"rating": "satisfied", "_csrf": csrf[:-2] + "xx"}, {}),
        ({"rating": "satisfied", "_csrf": csrf}, {"Origin": "https://evil.example"}),
    ):
        resp = await client.post(path, data=form, headers=headers)
        assert resp.status == 403
    async with services.db.read() as conn:
        row = await cases.by_tracking_no(conn, number)
    assert row is not None and row.rating == ""


async def test_expired_or_tampered_links_are_refused(
    services: Services, app: Any, aiohttp_client: Any
) -> None:
    number = await new_case(services, "citizen-a")
    await answered(services, number)
    link = (await pushed_links(services, number))[-1]
    token = link.split("k=", 1)[1]
    contact_id = int(token.split(".")[0])
    path = f"/my/cases/{number}"
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = sign(SECRET_KEY, LINK, contact_id, past)
    other_key = sign("another-secret-" + "y" * 32, LINK, contact_id, past + timedelta(days=9))
    contact_part, until, mac = token.split(".")
    forged = [
        expired,
        other_key,
        f"{contact_id + 1}.{until}.{mac}",  # another contact
        f"{contact_part}.{int(until) + 86400}.{mac}",  # a longer life
        f"{contact_part}.{until}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        "",
        "1.2",
    ]
    client = await aiohttp_client(app)
    for bad in forged:
        resp = await client.get(f"{path}?k={bad}", allow_redirects=False)
        assert resp.status == 403, bad
        assert "链接已过期或不完整" in await resp.text()
        assert "xf_my" not in resp.cookies
    # and nothing is reachable without a session
    for page in ("/my", path):
        resp = await client.get(page, allow_redirects=False)
        assert resp.status == 403 and "查看详情" in await resp.text()
    resp = await client.post(f"{path}/rate", data={"rating": "satisfied"})
    assert resp.status == 403
    # a link is no session cookie, and a session cookie no link
    await open_link(client, link)
    session = next(c.value for c in client.session.cookie_jar if c.key == "xf_my")
    jar, at = client.session.cookie_jar, client.make_url("/my")
    for cookie, status in ((session, 200), (token, 403)):
        jar.clear()
        jar.update_cookies({"xf_my": cookie}, response_url=at)
        assert (await client.get("/my", allow_redirects=False)).status == status
    jar.clear()
    assert (await client.get(f"{path}?k={session}", allow_redirects=False)).status == 403


async def test_another_contacts_case_is_not_found(
    services: Services, app: Any, aiohttp_client: Any
) -> None:
    mine = await new_case(services, "citizen-a")
    theirs = await new_case(services, "citizen-b", "邻居家的事")
    await answered(services, mine)
    await answered(services, theirs)
    client = await aiohttp_client(app)
    await open_link(client, (await pushed_links(services, mine))[-1])
    listing = await (await client.get("/my")).text()
    assert format_tracking_no(mine) in listing and format_tracking_no(theirs) not in listing
    other = await client.get(f"/my/cases/{theirs}")
    missing_no = theirs[:-1] + ("0" if theirs[-1] != "0" else "1")
    missing = await client.get("/my/cases/XF000000-000000-0")
    assert other.status == missing.status == 404
    other_body = await other.text()
    assert other_body == await missing.text()
    assert "邻居家的事" not in other_body and LONG not in other_body
    csrf = await csrf_of(await client.get(f"/my/cases/{mine}"))
    acted = await client.post(
        f"/my/cases/{theirs}/review", data={"_csrf": csrf, "reason": "试试别人的"}
    )
    assert acted.status == 404
    assert (await client.get(f"/my/cases/{missing_no}")).status == 404
    detail = await services.casework.detail(SUPERVISOR, theirs)
    assert detail.case.status == "answered"


async def test_opinions_in_order_and_no_internal_note(
    services: Services, app: Any, aiohttp_client: Any
) -> None:
    number = await new_case(services, "citizen-a")
    await answered(services, number)
    client = await aiohttp_client(app)
    page = await open_link(client, (await pushed_links(services, number))[-1])
    path = f"/my/cases/{number}"
    csrf = await csrf_of(page)
    await act(services, number, "reply", text="请保持电话畅通")
    resp = await client.post(f"{path}/review", data={"_csrf": csrf, "reason": "不服"})
    assert resp.status == 200  # followed to the page
    review = "经复查，" + "维持原处理意见，并督促镇政府加快施工。" * 20
    await act(services, number, "decide", by=REVIEWER, outcome="explained", text=review)
    await act(services, number, "flag", flag="urgent", on=True)
    body = await (await client.get(path)).text()
    assert "申请复核" in body
    resp = await client.post(f"{path}/review", data={"_csrf": csrf, "reason": "仍然不服"})
    assert resp.status == 200
    recheck = "经复核，维持复查意见。"
    await act(services, number, "decide", by=RECHECKER, outcome="not_supported", text=recheck)
    await act(services, number, "note")
    body = await (await client.get(path)).text()
    assert MARKER not in body
    positions = [body.find(text) for text in (LONG, review, recheck)]
    assert -1 not in positions and positions == sorted(positions)
    for heading in ("处理意见 ·", "复查意见 ·", "复核意见 ·"):
        assert heading in body
    assert "工作人员回复：请保持电话畅通" in body
    assert "已作出复核意见（不予支持）" in body
    listing = await (await client.get("/my")).text()
    assert MARKER not in listing and "已复核" in listing


async def test_web_chat_opens_the_page_and_the_status_answer_has_the_link(
    services: Services, app: Any, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(app)
    assert (await client.get("/chat")).status == 200
    body = {"client_id": uuid.uuid4().hex, "text": "你好"}
    assert (await client.post("/chat/api/messages", json=body)).status == 200
    async with services.db.read() as conn:
        address = (await conn.execute(select(contacts.c.address))).scalar_one()
    number = await new_case(services, address)
    bridge = await client.get("/chat/my", allow_redirects=False)
    assert bridge.status == 303 and bridge.headers["Location"] == "/my"
    listing = await client.get("/my")
    assert listing.status == 200
    assert format_tracking_no(number) in await listing.text()
    page = await client.get(f"/my/cases/{number}")
    assert page.status == 200 and "撤回信访事项" in await page.text()
    csrf = await csrf_of(page)
    unticked = await client.post(f"/my/cases/{number}/withdraw", data={"_csrf": csrf})
    assert unticked.status == 409
    done = await client.post(f"/my/cases/{number}/withdraw", data={"_csrf": csrf, "confirm": "yes"})
    assert done.status == 200 and "已撤回" in await done.text()
    ask = {"client_id": uuid.uuid4().hex, "text": f"查询 {format_tracking_no(number)}"}
    replies = await (await client.post("/chat/api/messages", json=ask)).json()
    text = "\n".join(r["text"] for r in replies["replies"])
    links = _LINK.findall(text)
    assert links and links[0].startswith(f"{PUBLIC}/my/cases/{number}?k=")
    assert json.dumps(replies, ensure_ascii=False).count("查看详情") == 1


async def test_without_a_public_url_nothing_carries_a_link(
    make_settings: Any, aiohttp_client: Any
) -> None:
    plain = build_services(make_settings())
    await plain.accounts.add("duban", PASSWORD, role=Role.SUPERVISOR)
    await plain.accounts.add("admin", PASSWORD, role=Role.ADMIN)
    number = await new_case(plain, "citizen-a")
    await answered(plain, number)
    async with plain.db.read() as conn:
        rows = (await conn.execute(select(outbox.c.payload))).all()
    assert rows and not any("查看详情" in str(r.payload) for r in rows)


async def test_the_page_speaks_the_contacts_language(
    services: Services, app: Any, aiohttp_client: Any
) -> None:
    number = await new_case(services, "citizen-en", "The village road is broken", lang="en")
    await answered(services, number)
    async with services.db.read() as conn:
        rows = (await conn.execute(select(outbox.c.payload))).all()
    links = [m for r in rows for m in re.findall(r"Details: (\S+)", str(r.payload.get("text")))]
    assert links
    client = await aiohttp_client(app)
    body = await (await open_link(client, links[-1])).text()
    assert 'lang="en"' in body and "Written answers" in body and "Answered" in body
    assert "Request a review" in body and "basically satisfied" in body
    assert MARKER not in body


async def test_the_review_window_is_the_conversations(
    services: Services, app: Any, aiohttp_client: Any
) -> None:
    number = await new_case(services, "citizen-a")
    await answered(services, number)
    client = await aiohttp_client(app)
    page = await open_link(client, (await pushed_links(services, number))[-1])
    csrf = await csrf_of(page)
    closed = datetime.now(UTC) - timedelta(days=1)
    async with services.db.transaction() as conn:
        await conn.execute(
            update(case_table)
            .where(case_table.c.tracking_no == number)
            .values(request_until=closed)
        )
    body = await (await client.get(f"/my/cases/{number}")).text()
    assert "申请复查" not in body and "满意" in body, "no form once the window closed"
    late = await client.post(
        f"/my/cases/{number}/review", data={"_csrf": csrf, "reason": "晚了也想申请"}
    )
    assert late.status == 409 and "申请期限已于" in await late.text()
    withdraw = await client.post(
        f"/my/cases/{number}/withdraw", data={"_csrf": csrf, "confirm": "yes"}
    )
    assert withdraw.status == 409 and "不能再撤回" in await withdraw.text()
    async with services.db.read() as conn:
        row = await cases.by_tracking_no(conn, number)
    assert row is not None and row.status == "answered"
