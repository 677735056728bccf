"""Every console and API route × every role: without personal-data access, nothing personal.

The routes come from the application's router: each must be classified here, either with
the requests that probe it or with the reason it returns no case data, so a route added
later without a classification fails this test. The fixture case holds a name, a phone,
an ID-card number and an address, and a sentence the citizen wrote that repeats them all
(in the facts, the rating comment, timeline entries, a file name and the file itself); a
staff reply names the petitioner too. For every role whose :class:`PiiPolicy` denies
personal data, no response body, header or download (XLSX unpacked) may contain any of
them, and a search for them must not find the case. Roles with access see them (so the
probes reach the data).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import DummyCookieJar
from sqlalchemy import update

from bot.app import Services, create_app
from bot.domain.tracking import format_tracking_no
from bot.staff.access import StaffMember
from bot.staff.broadcasts import Audience
from bot.staff.pii_policy import PiiPolicy, Redactor
from bot.storage import attachments
from bot.storage import cases as case_store
from bot.storage.tables import cases as case_table
from bot.storage.tables import outbox
from tests.web.api_support import NOW, ZJJ, db_state, file_case

NAME = "欧阳春花"
PHONE = "13655554444"
ID_NUMBER = "330106199001011234"
ADDRESS = "西湖区文三路100号"
SENTENCE = f"我叫{NAME}，请打我电话{PHONE}，我的身份证{ID_NUMBER}，住{ADDRESS}"
SECRETS = (NAME, PHONE, ID_NUMBER, ADDRESS, SENTENCE)
LOGINS = {"admin": "admin", "supervisor": "duban", "handler": "zjj", "viewer": "viewer"}


@dataclass(frozen=True)
class Probe:
    """One request on a route ({case}, {attachment}, {broadcast} filled in)."""

    path: str
    body: dict[str, Any] | None = None
    shows: bool = False  # a role with personal-data access sees the name here
    oracle: bool = False  # a search for personal data: the case must not be found without it


C = "/staff/cases/{case}"
A = "/api/v1/cases/{case}"
NO_CASE_DATA = "returns no case data"
API_ACTIONS = (
    "accept",
    "reject",
    "transfer",
    "assign",
    "start",
    "extend",
    "answer",
    "decide",
    "close",
    "note",
    "flag",
    "link",
    "reply",
    "assign_handler",
    "edit",
)
# (method, route template) -> probes, or why the route holds no case data at all
ROUTES: dict[tuple[str, str], tuple[Probe, ...] | str] = {
    ("GET", "/staff"): (Probe("/staff"),),
    ("GET", "/staff/login"): "the login form",
    ("POST", "/staff/login"): "credentials in, a redirect out",
    ("POST", "/staff/logout"): "ends the session",
    ("GET", "/staff/static"): "the console's CSS and scripts",
    ("GET", "/staff/password"): "the account's own password form",
    ("POST", "/staff/password"): "changes the account's own password",
    ("GET", "/staff/"): (Probe("/staff/"),),
    ("GET", "/staff/report.xlsx"): (Probe("/staff/report.xlsx"),),
    ("GET", "/staff/cases"): (
        Probe("/staff/cases", shows=True),
        *(Probe(f"/staff/cases?q={q}", oracle=True) for q in (NAME, ID_NUMBER, PHONE[-4:])),
    ),
    ("GET", "/staff/cases/export.csv"): (
        Probe("/staff/cases/export.csv", shows=True),
        Probe(f"/staff/cases/export.csv?q={ID_NUMBER}", oracle=True),
    ),
    ("GET", "/staff/cases/export.xlsx"): (Probe("/staff/cases/export.xlsx", shows=True),),
    ("GET", "/staff/cases/{tracking_no}"): (Probe(C, shows=True),),
    ("POST", "/staff/cases/{tracking_no}/actions/{action}"): (
        Probe(C + "/actions/note", {"text": "内部备注"}),
    ),
    ("GET", "/staff/cases/{tracking_no}/attachments/{attachment_id}"): (
        Probe(C + "/attachments/{attachment}", shows=True),
    ),
    ("GET", "/staff/broadcasts"): (Probe("/staff/broadcasts"),),
    ("POST", "/staff/broadcasts"): (Probe("/staff/broadcasts", {"kind": "all", "text": "通知"}),),
    ("POST", "/staff/broadcasts/preview"): (
        Probe("/staff/broadcasts/preview", {"kind": "all", "text": "通知"}),
    ),
    ("GET", "/staff/broadcasts/{broadcast_id}"): (Probe("/staff/broadcasts/{broadcast}"),),
    ("GET", "/staff/broadcasts/{broadcast_id}/progress.json"): (
        Probe("/staff/broadcasts/{broadcast}/progress.json"),
    ),
    ("POST", "/staff/broadcasts/{broadcast_id}/cancel"): (
        Probe("/staff/broadcasts/{broadcast}/cancel", {}),
    ),
    ("POST", "/staff/cases/bulk"): (
        Probe("/staff/cases/bulk", {"op": "accept", "case": "{case}"}),
    ),
    **{
        ("POST", f"/staff/broadcasts/{{broadcast_id}}/{verb}"): (
            Probe(f"/staff/broadcasts/{{broadcast}}/{verb}", {}),
        )
        for verb in ("approve", "reject")
    },
    **{
        ("POST", f"/api/v1/broadcasts/{{broadcast_id}}/{verb}"): (
            Probe(f"/api/v1/broadcasts/{{broadcast}}/{verb}", {}),
        )
        for verb in ("approve", "reject")
    },
    ("POST", "/api/v1/cases/actions/bulk"): (
        Probe("/api/v1/cases/actions/bulk", {"action": "accept", "cases": ["{case}"]}),
    ),
    # documents of the fixture case (it has none: the masked rendering is tested in
    # tests/web/test_documents_web.py and test_documents_render.py)
    ("GET", "/api/v1/cases/{tracking_no}/documents"): (Probe(A + "/documents"),),
    ("GET", "/api/v1/cases/{tracking_no}/documents/{document_id}"): (
        Probe(A + "/documents/999999"),
    ),
    ("GET", "/staff/cases/{tracking_no}/documents/{document_id}"): (
        Probe(C + "/documents/999999"),
    ),
    ("POST", "/api/v1/cases/{tracking_no}/documents/{document_id}/deliveries"): (
        Probe(A + "/documents/999999/deliveries", {"way": "in_person", "on": "2026-12-01"}),
    ),
    ("POST", "/staff/cases/{tracking_no}/documents/{document_id}/deliveries"): (
        Probe(C + "/documents/999999/deliveries", {"way": "in_person", "on": "2026-12-01"}),
    ),
    ("GET", "/staff/todo"): (Probe("/staff/todo"),),
    ("GET", "/api/v1/todo"): (Probe("/api/v1/todo"),),
    ("GET", "/staff/register"): "the registration form (no case data)",
    ("POST", "/staff/register"): (Probe("/staff/register", {"channel": "letter"}),),
    ("POST", "/api/v1/registrations"): (Probe("/api/v1/registrations", {"channel": "letter"}),),
    ("POST", "/staff/cases/{tracking_no}/files"): (Probe(C + "/files", {"origin": "staff"}),),
    ("POST", "/api/v1/cases/{tracking_no}/files"): (Probe(A + "/files", {}),),
    ("POST", "/staff/cases/{tracking_no}/files/{file_id}/in_document"): (
        Probe(C + "/files/{attachment}/in_document", {"on": "1"}),
    ),
    ("PUT", "/api/v1/cases/{tracking_no}/files/{file_id}/in_document"): (
        Probe(A + "/files/{attachment}/in_document", {"in_document": True}),
    ),
    ("GET", "/staff/help"): (Probe("/staff/help"),),
    ("POST", "/staff/help/{id}/reply"): (Probe("/staff/help/999999/reply", {"text": "您好"}),),
    ("POST", "/staff/help/{id}/handled"): (Probe("/staff/help/999999/handled", {}),),
    ("GET", "/staff/deliveries"): (Probe("/staff/deliveries", shows=True),),
    ("POST", "/staff/deliveries/retry"): (Probe("/staff/deliveries/retry", {"id": "999999"}),),
    ("POST", "/staff/deliveries/cancel"): (Probe("/staff/deliveries/cancel", {"id": "999999"}),),
    ("GET", "/staff/audit"): (Probe("/staff/audit"),),
    ("GET", "/api/v1/openapi.json"): "the API's description",
    ("GET", "/api/v1/me"): (Probe("/api/v1/me"),),
    ("GET", "/api/v1/cases"): (
        Probe("/api/v1/cases", shows=True),
        *(Probe(f"/api/v1/cases?q={q}", oracle=True) for q in (NAME, ID_NUMBER, ADDRESS)),
    ),
    ("GET", "/api/v1/cases/export.csv"): (
        Probe("/api/v1/cases/export.csv", shows=True),
        Probe(f"/api/v1/cases/export.csv?q={NAME}", oracle=True),
    ),
    ("GET", "/api/v1/cases/export.xlsx"): (Probe("/api/v1/cases/export.xlsx", shows=True),),
    ("GET", "/api/v1/cases/{tracking_no}"): (Probe(A, shows=True),),
    ("GET", "/api/v1/cases/{tracking_no}/attachments/{attachment_id}"): (
        Probe(A + "/attachments/{attachment}", shows=True),
    ),
    **{
        ("POST", f"/api/v1/cases/{{tracking_no}}/actions/{action}"): (
            Probe(f"{A}/actions/{action}", {}),
        )
        for action in API_ACTIONS
    },
    ("GET", "/api/v1/dashboard"): (Probe("/api/v1/dashboard"),),
    ("GET", "/api/v1/reports/departments"): (Probe("/api/v1/reports/departments"),),
    ("GET", "/api/v1/reports/departments.xlsx"): (Probe("/api/v1/reports/departments.xlsx"),),
    ("POST", "/api/v1/broadcasts/preview"): (
        Probe("/api/v1/broadcasts/preview", {"audience": {"kind": "all"}}),
    ),
    ("POST", "/api/v1/broadcasts"): (
        Probe("/api/v1/broadcasts", {"audience": {"kind": "all"}, "text": "通知"}),
    ),
    ("GET", "/api/v1/broadcasts"): (Probe("/api/v1/broadcasts"),),
    ("GET", "/api/v1/broadcasts/{broadcast_id}"): (Probe("/api/v1/broadcasts/{broadcast}"),),
    ("POST", "/api/v1/broadcasts/{broadcast_id}/cancel"): (
        Probe("/api/v1/broadcasts/{broadcast}/cancel", {}),
    ),
    ("GET", "/api/v1/audit"): (Probe("/api/v1/audit"),),
    ("GET", "/api/v1/deliveries"): (Probe("/api/v1/deliveries", shows=True),),
    ("POST", "/api/v1/deliveries/retry"): (Probe("/api/v1/deliveries/retry", {"ids": [999999]}),),
    ("POST", "/api/v1/deliveries/cancel"): (Probe("/api/v1/deliveries/cancel", {"ids": [999999]}),),
}


def staff_routes(app: Any) -> set[tuple[str, str]]:
    """(method, template) of every /staff and /api/v1 route (HEAD is GET's)."""
    found = set()
    for route in app.router.routes():
        template = route.resource.canonical if route.resource else ""
        if route.method != "HEAD" and template.startswith(("/staff", "/api/v1")):
            found.add((route.method, template))
    return found


@pytest.fixture
async def raw(services: Services, aiohttp_client: Any) -> Any:
    """A client that keeps no cookies: every request says who it is."""
    return await aiohttp_client(create_app(services, run_worker=False), cookie_jar=DummyCookieJar())


@dataclass
class Fixture:
    """The case full of personal data, and every role's credentials."""

    case: str
    attachment: int
    broadcast: int
    members: dict[str, StaffMember]
    tokens: dict[str, str]


async def _fixture(services: Services) -> Fixture:
    number = await file_case(
        services,
        ZJJ,
        user="pii-citizen",
        request=f"请求修路。{SENTENCE}",
        answers={"name": NAME, "phone": PHONE, "address": ADDRESS, "facts": SENTENCE},
        due_at=NOW - timedelta(days=1),  # overdue: on the dashboard's list too
    )
    row, _, _ = await db_state(services, number)
    files = services.settings.attachments_dir
    files.mkdir(parents=True, exist_ok=True)
    (files / "id.png").write_bytes(f"\x89PNG {SENTENCE}".encode())
    async with services.db.transaction() as conn:
        await conn.execute(
            update(case_table)
            .where(case_table.c.id == row.id)
            .values(name=NAME, rating="dissatisfied", rating_comment=SENTENCE)
        )
        at = row.submitted_at
        await case_store.add_event(
            conn, row.id, at=at, actor="citizen", kind="rated", note=SENTENCE
        )
        await case_store.add_event(
            conn,
            row.id,
            at=at,
            actor="citizen",
            kind="review_requested",
            message=SENTENCE,
            data={"reason": SENTENCE},
        )
        attachment = await attachments.add(
            conn,
            contact_id=row.contact_id,
            kind="image",
            media_ref="id.png",
            now=at,
            mime="image/png",
            filename=f"{NAME}身份证{ID_NUMBER}.png",
            size=40,
        )
        await attachments.link_to_case(conn, [attachment], row.id)
    members = {}
    for staff in await services.accounts.all():
        for role, login in LOGINS.items():
            if staff.login == login:
                members[role] = staff.member()
    admin = members["admin"]
    await services.casework.act(admin, number, "reply", {"text": f"{NAME}您好，请补充材料。"})
    async with services.db.transaction() as conn:  # the reply could not be delivered
        await conn.execute(
            update(outbox)
            .where(outbox.c.case_id == row.id)
            .values(status="failed", attempts=1, last_error=f"43004 {PHONE}")
        )
    tokens = {r: await services.accounts.issue_token(login, "pii") for r, login in LOGINS.items()}
    broadcast = await services.broadcasts.start(Audience("all"), "停水通知", admin)
    return Fixture(number, attachment, broadcast, members, tokens)


def _readable(body: bytes, headers: Any) -> str:
    """A response as text: XLSX unpacked, every header included."""
    parts = [f"{k}: {v}" for k, v in headers.items()]
    if body.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(body)) as book:
            parts += [book.read(n).decode("utf-8", "replace") for n in book.namelist()]
    else:
        parts.append(body.decode("utf-8", "replace"))
    return "\n".join(parts)


async def _request(
    raw: Any, fx: Fixture, services: Services, method: str, route: str, probe: Probe, role: str
) -> tuple[int, str]:
    values = {"case": fx.case, "attachment": str(fx.attachment), "broadcast": str(fx.broadcast)}
    path = probe.path.format(**values)

    def filled(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(**values) if "{" in value else value
        return [filled(v) for v in value] if isinstance(value, list) else value

    body = {k: filled(v) for k, v in probe.body.items()} if probe.body is not None else None
    headers: dict[str, str] = {}
    kwargs: dict[str, Any] = {"allow_redirects": False}
    if route.startswith("/api/v1"):
        headers["Authorization"] = f"Bearer {fx.tokens[role]}"
        if body is not None:
            kwargs["json"] = body
    else:
        session = await services.accounts.open_session(fx.members[role].id)
        headers["Cookie"] = f"xf_staff={session.token}"
        if body is not None:
            kwargs["data"] = {**body, "_csrf": session.csrf}
    response = await raw.request(method, path, headers=headers, **kwargs)
    return response.status, _readable(await response.read(), response.headers)


def test_every_staff_route_is_classified(services: Services) -> None:
    routes = staff_routes(create_app(services, run_worker=False))
    unclassified = sorted(routes - ROUTES.keys())
    assert not unclassified, f"classify these routes in ROUTES: {unclassified}"
    gone = sorted(ROUTES.keys() - routes)
    assert not gone, f"ROUTES names routes the app does not have: {gone}"


async def test_no_role_without_personal_access_receives_personal_data(
    raw: Any, services: Services
) -> None:
    fx = await _fixture(services)
    wrong: list[str] = []
    policies = {role: PiiPolicy.of(m) for role, m in fx.members.items()}
    assert not policies["viewer"].personal and policies["handler"].personal
    # reads first, then the requests that may change something
    ordered = sorted(ROUTES.items(), key=lambda item: item[0][0] != "GET")
    for (method, route), probes in ordered:
        if isinstance(probes, str):
            continue
        for probe in probes:
            for role, policy in policies.items():
                status, text = await _request(raw, fx, services, method, route, probe, role)
                where = f"{method} {probe.path} as {role} ({status})"
                if probe.oracle:  # the search box shows what the member typed
                    text = text.replace(probe.path.split("q=")[1], "")
                found = fx.case in text or format_tracking_no(fx.case) in text
                if not policy.personal:
                    wrong += [f"{where}: {s!r}" for s in SECRETS if s in text]
                    if probe.oracle and found:
                        wrong.append(f"{where}: a search over personal data found the case")
                elif status == 200 and probe.shows and NAME not in text:
                    wrong.append(f"{where}: the name is not shown to a role that may see it")
                elif status == 200 and probe.oracle and not found:
                    wrong.append(f"{where}: the search did not find the case")
    assert not wrong, "\n".join(wrong)


def test_redactor_hides_the_case_values_however_the_phone_is_spaced() -> None:
    redact = Redactor((ADDRESS, NAME), ("13655554444",))
    text = redact(f"{NAME}说：打136 5555 4444或136-5555-4444，住{ADDRESS}，身份证{ID_NUMBER}")
    assert not any(s in text for s in (NAME, ADDRESS, ID_NUMBER, "136 5555 4444", "4444"))
    assert text.startswith("****说")


def test_audit_details_and_message_texts_follow_the_same_rule() -> None:
    hidden, shown = PiiPolicy(personal=False), PiiPolicy(personal=True)
    detail = {"q": f"电话{PHONE}", "filters": [ID_NUMBER], "via": "token"}
    masked = hidden.audit_detail(detail)
    assert masked is not None and PHONE not in str(masked) and ID_NUMBER not in str(masked)
    assert masked["via"] == "token" and shown.audit_detail(detail) == detail
    assert hidden.message_text(SENTENCE) is None and shown.message_text(SENTENCE) == SENTENCE
    assert not hidden.downloads_attachments and not hidden.searches_personal
