"""Every /staff and /api/v1 endpoint against every role, department scope, CSRF and sessions.

The matrix is a table: one row per endpoint, the expected status per role. The target
case belongs to the Shangcheng housing bureau (handler "zjj"); "rsj" handles another
department and must get exactly what an unknown case gets (404), with nothing changed
in the database. Console cells use a fresh session cookie each; API cells a bearer token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import DummyCookieJar
from sqlalchemy import update

from bot.app import Services, create_app
from bot.staff.access import StaffMember
from bot.staff.broadcasts import Audience
from bot.storage import attachments
from bot.storage import cases as case_store
from bot.storage import staff as store
from bot.storage.tables import attachments as attachment_table
from bot.storage.tables import audit_log
from bot.storage.tables import cases as case_table
from tests.conftest import FixedClock
from tests.web.api_support import ZJJ, db_state, file_case

ROLES = ("admin", "supervisor", "handler_own", "handler_other", "viewer", "anonymous")
# an anonymous console form (a session that expired) is sent to the login page: 303
LOGINS = {
    "admin": "admin",
    "supervisor": "duban",
    "handler_own": "zjj",
    "handler_other": "rsj",
    "viewer": "viewer",
}


def expect(
    admin: int, supervisor: int, own: int, other: int, viewer: int, anonymous: int
) -> dict[str, int]:
    """Expected statuses in ROLES order."""
    return dict(zip(ROLES, (admin, supervisor, own, other, viewer, anonymous), strict=True))


def everyone(status: int, anonymous: int) -> dict[str, int]:
    """The same status for every signed-in role."""
    return expect(status, status, status, status, status, anonymous)


@dataclass(frozen=True)
class Endpoint:
    """One matrix row: a request and the status each role must get."""

    method: str
    route: str  # the router's template (checked against the application's routes)
    expected: dict[str, int]
    path: str = ""  # the request path ({case}, {primary}, {attachment}, {broadcast}); = route
    body: dict[str, Any] | None = None  # JSON for /api/v1, a form for /staff
    fresh_case: bool = False  # the request changes the case: a new one per cell
    fresh_broadcast: bool = False
    case_scoped: bool = False  # refused cells must leave the target case untouched

    @property
    def api(self) -> bool:
        """An /api/v1 endpoint (bearer token) rather than a console page (cookie)."""
        return self.route.startswith("/api/v1")


C = "/staff/cases/{tracking_no}"
A = "/api/v1/cases/{tracking_no}"
BC = "/staff/broadcasts/{broadcast_id}"
BA = "/api/v1/broadcasts/{broadcast_id}"

CONSOLE = [
    Endpoint("GET", "/staff", everyone(302, 302)),
    Endpoint("GET", "/staff/", everyone(200, 302)),
    Endpoint("GET", "/staff/login", everyone(302, 200)),
    # credentials, not the session, decide a login: an empty form fails for everyone
    Endpoint("POST", "/staff/login", everyone(401, 401), body={"login": "", "password": ""}),
    Endpoint("POST", "/staff/logout", everyone(303, 303), body={}),
    Endpoint("GET", "/staff/cases", everyone(200, 302)),
    Endpoint("GET", "/staff/cases/export.csv", expect(200, 200, 200, 200, 403, 302)),
    Endpoint("GET", "/staff/cases/export.xlsx", expect(200, 200, 200, 200, 403, 302)),
    Endpoint("GET", "/staff/report.xlsx", expect(200, 200, 200, 200, 403, 302)),
    Endpoint("GET", C, expect(200, 200, 200, 404, 200, 302), path="/staff/cases/{case}"),
    Endpoint(
        "POST",
        C + "/actions/{action}",
        expect(303, 303, 303, 404, 403, 303),
        path="/staff/cases/{case}/actions/note",
        body={"text": "内部备注"},
        case_scoped=True,
    ),
    Endpoint(
        "GET",
        C + "/attachments/{attachment_id}",
        expect(200, 200, 200, 404, 403, 302),  # originals need case.pii
        path="/staff/cases/{case}/attachments/{attachment}",
    ),
    Endpoint("GET", "/staff/broadcasts", expect(200, 200, 403, 403, 403, 302)),
    Endpoint(
        "POST",
        "/staff/broadcasts/preview",
        expect(200, 200, 403, 403, 403, 303),
        body={"kind": "all", "text": "通知"},
    ),
    Endpoint(
        "POST",
        "/staff/broadcasts",
        expect(303, 303, 403, 403, 403, 303),
        body={"kind": "all", "text": "通知"},
    ),
    Endpoint("GET", BC, expect(200, 200, 403, 403, 403, 302), path="/staff/broadcasts/{broadcast}"),
    Endpoint(
        "GET",
        BC + "/progress.json",
        expect(200, 200, 403, 403, 403, 302),
        path="/staff/broadcasts/{broadcast}/progress.json",
    ),
    Endpoint(
        "POST",
        BC + "/cancel",
        expect(303, 303, 403, 403, 403, 303),
        path="/staff/broadcasts/{broadcast}/cancel",
        body={},
        fresh_broadcast=True,
    ),
    Endpoint("GET", "/staff/help", expect(200, 200, 200, 200, 403, 302)),
    *(
        Endpoint(
            "POST",
            f"/staff/help/{{id}}/{action}",
            expect(303, 303, 303, 303, 403, 303),  # an unknown request: back with a flash
            path=f"/staff/help/999999/{action}",
            body={"text": "您好"},
        )
        for action in ("reply", "handled")
    ),
    Endpoint("GET", "/staff/deliveries", expect(200, 200, 403, 403, 403, 302)),
    *(
        Endpoint(
            "POST",
            f"/staff/deliveries/{action}",
            expect(303, 303, 403, 403, 403, 303),
            body={"id": "999999"},
        )
        for action in ("retry", "cancel")
    ),
    Endpoint("GET", "/staff/audit", expect(200, 403, 403, 403, 403, 302)),
]

# An action on a fresh submitted case: done (200), or refused by the state machine (409)
# for the roles allowed to act; the scope (404), the role (403) and the login (401) come
# first, whatever the case's status.
ACTIONS: dict[str, tuple[int, dict[str, Any]]] = {
    "accept": (200, {}),
    "reject": (200, {"reason": "不属于信访事项", "channel": "向人民法院提起诉讼"}),
    "transfer": (200, {"to": "杭州市市场监督管理局"}),
    "assign": (409, {}),
    "start": (409, {}),
    "extend": (409, {"days": 10, "reason": "需进一步调查"}),
    "answer": (409, {"outcome": "explained", "text": "答复意见"}),
    "decide": (409, {"outcome": "explained", "text": "复查意见"}),
    "close": (409, {}),
    "note": (200, {"text": "内部备注"}),
    "flag": (200, {"flag": "urgent"}),
    "link": (200, {"primary": "{primary}"}),
    "reply": (200, {"text": "您好，您的事项正在办理。"}),
}

API = [
    Endpoint("GET", "/api/v1/openapi.json", everyone(200, 200)),
    Endpoint("GET", "/api/v1/me", everyone(200, 401)),
    Endpoint("GET", "/api/v1/cases", everyone(200, 401)),
    Endpoint("GET", "/api/v1/cases/export.csv", expect(200, 200, 200, 200, 403, 401)),
    Endpoint("GET", "/api/v1/cases/export.xlsx", expect(200, 200, 200, 200, 403, 401)),
    Endpoint("GET", A, expect(200, 200, 200, 404, 200, 401), path="/api/v1/cases/{case}"),
    Endpoint(
        "GET",
        A + "/attachments/{attachment_id}",
        expect(200, 200, 200, 404, 403, 401),
        path="/api/v1/cases/{case}/attachments/{attachment}",
    ),
    *(
        Endpoint(
            "POST",
            f"{A}/actions/{action}",
            expect(done, done, done, 404, 403, 401),
            path=f"/api/v1/cases/{{case}}/actions/{action}",
            body=body,
            fresh_case=True,
            case_scoped=True,
        )
        for action, (done, body) in ACTIONS.items()
    ),
    Endpoint("GET", "/api/v1/dashboard", everyone(200, 401)),
    Endpoint("GET", "/api/v1/reports/departments", everyone(200, 401)),
    Endpoint("GET", "/api/v1/reports/departments.xlsx", expect(200, 200, 200, 200, 403, 401)),
    Endpoint(
        "POST",
        "/api/v1/broadcasts/preview",
        expect(200, 200, 403, 403, 403, 401),
        body={"audience": {"kind": "all"}},
    ),
    Endpoint(
        "POST",
        "/api/v1/broadcasts",
        expect(201, 201, 403, 403, 403, 401),
        body={"audience": {"kind": "all"}, "text": "通知"},
    ),
    Endpoint("GET", "/api/v1/broadcasts", expect(200, 200, 403, 403, 403, 401)),
    Endpoint(
        "GET", BA, expect(200, 200, 403, 403, 403, 401), path="/api/v1/broadcasts/{broadcast}"
    ),
    Endpoint(
        "POST",
        BA + "/cancel",
        expect(200, 200, 403, 403, 403, 401),
        path="/api/v1/broadcasts/{broadcast}/cancel",
        fresh_broadcast=True,
    ),
    Endpoint("GET", "/api/v1/deliveries", expect(200, 200, 403, 403, 403, 401)),
    *(
        Endpoint(
            "POST",
            f"/api/v1/deliveries/{action}",
            expect(200, 200, 403, 403, 403, 401),
            body={"ids": [999999]},
        )
        for action in ("retry", "cancel")
    ),
    Endpoint("GET", "/api/v1/audit", expect(200, 403, 403, 403, 403, 401)),
]
MATRIX = CONSOLE + API


@pytest.fixture
async def raw(services: Services, aiohttp_client: Any) -> Any:
    """A client that keeps no cookies: every request says who it is by itself."""
    return await aiohttp_client(create_app(services, run_worker=False), cookie_jar=DummyCookieJar())


@dataclass
class World:
    """What the matrix acts on, and each role's credentials."""

    services: Services
    case: str = ""
    attachment: int = 0
    broadcast: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    members: dict[str, StaffMember] = field(default_factory=dict)

    async def session(self, role: str) -> tuple[str, str]:
        """A fresh console session of a role: (cookie value, CSRF token)."""
        member = self.members[role]
        tokens = await self.services.accounts.open_session(member.id)
        return tokens.token, tokens.csrf

    async def new_broadcast(self) -> int:
        """A broadcast still sending (the test app runs no outbox worker)."""
        return await self.services.broadcasts.start(
            Audience("all"), "停水通知", self.members["admin"]
        )


async def _world(services: Services) -> World:
    world = World(services)
    world.case = await file_case(services, ZJJ, user="matrix-citizen")
    files = services.settings.attachments_dir
    files.mkdir(parents=True, exist_ok=True)
    (files / "matrix.png").write_bytes(b"\x89PNG matrix")
    row, _, _ = await db_state(services, world.case)
    async with services.db.transaction() as conn:
        world.attachment = await attachments.add(
            conn,
            contact_id=row.contact_id,
            kind="image",
            media_ref="matrix.png",
            now=row.submitted_at,
            mime="image/png",
            filename="现场.png",
            size=12,
        )
        await attachments.link_to_case(conn, [world.attachment], row.id)
    for staff in await services.accounts.all():
        for role, login in LOGINS.items():
            if staff.login == login:
                world.members[role] = staff.member()
    for role, login in LOGINS.items():
        world.tokens[role] = await services.accounts.issue_token(login, "matrix")
    world.broadcast = await world.new_broadcast()
    return world


async def _call(raw: Any, world: World, endpoint: Endpoint, role: str, case: str) -> int:
    """Make one matrix request on ``case``; returns the status."""
    broadcast = await world.new_broadcast() if endpoint.fresh_broadcast else world.broadcast
    values = {
        "case": case,
        "attachment": str(world.attachment),
        "broadcast": str(broadcast),
        "primary": "",
    }
    if "{primary}" in str(endpoint.body):
        values["primary"] = await file_case(world.services, ZJJ, user="primary", request="同一事项")
    path = (endpoint.path or endpoint.route).format(**values)
    body = (
        {k: v.format(**values) if isinstance(v, str) else v for k, v in endpoint.body.items()}
        if endpoint.body is not None
        else None
    )
    headers: dict[str, str] = {}
    kwargs: dict[str, Any] = {"allow_redirects": False}
    if endpoint.api:
        if role != "anonymous":
            headers["Authorization"] = f"Bearer {world.tokens[role]}"
        if body is not None:
            kwargs["json"] = body
    else:
        csrf = ""
        if role != "anonymous":
            cookie, csrf = await world.session(role)
            headers["Cookie"] = f"xf_staff={cookie}"
        if body is not None:
            kwargs["data"] = {**body, "_csrf": csrf} if csrf else body
    response = await raw.request(endpoint.method, path, headers=headers, **kwargs)
    await response.read()
    return int(response.status)


async def test_every_role_against_every_endpoint(raw: Any, services: Services) -> None:
    world = await _world(services)
    wrong: list[str] = []
    for endpoint in MATRIX:
        for role in ROLES:
            expected = endpoint.expected[role]
            case = world.case
            if endpoint.fresh_case:
                case = await file_case(services, ZJJ, user="fresh")
            # an anonymous form goes to the login page (303): refused all the same
            anonymous_form = role == "anonymous" and not endpoint.api
            refused = endpoint.case_scoped and (expected in (401, 403, 404) or anonymous_form)
            before = await db_state(services, case) if refused else None
            status = await _call(raw, world, endpoint, role, case)
            where = f"{endpoint.method} {endpoint.path or endpoint.route} as {role}"
            if status != expected:
                wrong.append(f"{where}: {status}, expected {expected}")
            if before is not None and await db_state(services, case) != before:
                wrong.append(f"{where} was refused but changed the case")
    assert not wrong, "\n".join(wrong)


def test_the_matrix_covers_every_staff_and_api_route(services: Services) -> None:
    app = create_app(services, run_worker=False)
    served = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        canonical = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or "directory" in info:  # HEAD mirrors GET; static files
            continue
        if canonical.startswith(("/staff", "/api/v1")):
            served.add((route.method, canonical))
    tabled = {(e.method, e.route) for e in MATRIX}
    assert served - tabled == set(), "routes without a row in the access matrix"
    assert tabled - served == set(), "matrix rows for routes the app does not serve"


async def test_a_handler_cannot_reach_another_departments_case(
    raw: Any, services: Services
) -> None:
    theirs = await file_case(services, ZJJ, user="zjj-citizen", request="小区违建")
    world = await _world(services)
    rsj = {"Authorization": f"Bearer {world.tokens['handler_other']}"}
    before = await db_state(services, theirs)
    unknown = theirs[:-1] + str((int(theirs[-1]) + 1) % 10)  # check digit wrong: no such case
    for number in (theirs, theirs.lower(), f"{theirs[:8]}-{theirs[8:14]}-{theirs[14:]}"):
        response = await raw.get(f"/api/v1/cases/{number}", headers=rsj)
        assert response.status == 404
        assert (await response.json())["detail"] == f"no case {number}"
    hidden = await raw.get(f"/api/v1/cases/{theirs}", headers=rsj)
    missing = await raw.get(f"/api/v1/cases/{unknown}", headers=rsj)
    assert (await hidden.json())["detail"].replace(theirs, "N") == (
        (await missing.json())["detail"].replace(unknown, "N")
    )
    for action, (_, body) in ACTIONS.items():
        payload = {k: (world.case if v == "{primary}" else v) for k, v in body.items()}
        response = await raw.post(
            f"/api/v1/cases/{theirs}/actions/{action}", json=payload, headers=rsj
        )
        assert response.status == 404, action
    listed = await raw.get("/api/v1/cases", params={"q": theirs}, headers=rsj)
    assert (await listed.json())["total"] == 0
    export = await raw.get("/api/v1/cases/export.csv", headers=rsj)
    assert theirs[2:8] not in (await export.read()).decode("utf-8-sig").split("\n", 1)[1]
    cookie, csrf = await world.session("handler_other")
    page = await raw.get(f"/staff/cases/{theirs}", headers={"Cookie": f"xf_staff={cookie}"})
    assert page.status == 404
    form = await raw.post(
        f"/staff/cases/{theirs}/actions/accept",
        data={"_csrf": csrf},
        headers={"Cookie": f"xf_staff={cookie}"},
        allow_redirects=False,
    )
    assert form.status == 404
    assert await db_state(services, theirs) == before
    async with services.db.read() as conn:
        entries = (
            await conn.execute(
                audit_log.select()
                .with_only_columns(
                    audit_log.c.action, audit_log.c.case_id, audit_log.c.target, audit_log.c.detail
                )
                .where(audit_log.c.actor == "rsj")
            )
        ).all()
    # every attempt on the hidden case is a refusal by scope (the unknown number is none)
    refused = [e for e in entries if e.action not in ("case.search", "case.export")]
    assert len(refused) == 4 + len(ACTIONS) + 2  # API reads, API actions, console page, form
    assert {e.action for e in refused} == {"access.refused"}
    assert {(e.case_id, e.target, e.detail["reason"]) for e in refused} == {
        (before[0].id, theirs, "scope")
    }


async def test_cookie_authenticated_api_calls_need_the_csrf_token(
    raw: Any, services: Services
) -> None:
    world = await _world(services)
    cookie, csrf = await world.session("handler_own")
    jar = {"Cookie": f"xf_staff={cookie}"}
    me = await raw.get("/api/v1/me", headers=jar)
    assert me.status == 200 and (await me.json())["via"] == "session"
    before = await db_state(services, world.case)
    note = f"/api/v1/cases/{world.case}/actions/note"
    for headers in (
        jar,
        {**jar, "X-CSRF-Token": "x" * 43},
        {**jar, "X-CSRF-Token": csrf, "Origin": "https://evil.example"},
    ):
        refused = await raw.post(note, json={"text": "伪造请求"}, headers=headers)
        assert refused.status == 403
        assert (await refused.json())["error"] == "csrf"
    assert await db_state(services, world.case) == before
    done = await raw.post(note, json={"text": "正常备注"}, headers={**jar, "X-CSRF-Token": csrf})
    assert done.status == 200
    # a bearer token is not an ambient credential: no CSRF token needed
    bearer = {"Authorization": f"Bearer {world.tokens['handler_own']}"}
    assert (await raw.post(note, json={"text": "接口备注"}, headers=bearer)).status == 200
    async with services.db.read() as conn:
        vias = [
            (r.detail or {}).get("via")
            for r in await conn.execute(audit_log.select().where(audit_log.c.action == "case.note"))
        ]
    assert vias == ["session", "token"]


async def test_revoked_expired_and_disabled_tokens_are_refused(
    raw: Any, services: Services
) -> None:
    clock = FixedClock()
    services.accounts.clock = clock
    short = await services.accounts.issue_token("zjj", "one day", days=1)
    revoked = await services.accounts.issue_token("zjj", "to revoke")
    duban = await services.accounts.issue_token("duban", "screen")

    async def status(token: str) -> int:
        response = await raw.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        if response.status == 401:
            assert (await response.json())["error"] == "invalid_token"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        return int(response.status)

    assert [await status(t) for t in (short, revoked, duban)] == [200, 200, 200]
    async with services.db.read() as conn:
        ids = {t.name: t.id for t in await store.list_tokens(conn)}
    assert await services.accounts.revoke_token(ids["to revoke"])
    await services.accounts.set_active("duban", False)
    clock.advance(days=1, seconds=1)
    assert [await status(t) for t in (short, revoked, duban)] == [401, 401, 401]
    assert await status("xft_" + "A" * 43) == 401
    assert await status(short[:-1]) == 401


async def test_sessions_end_when_idle_and_at_the_absolute_limit(
    raw: Any, services: Services
) -> None:
    clock = FixedClock()
    services.accounts.clock = clock
    world = await _world(services)
    idle = services.accounts.session_idle
    cookie, _ = await world.session("viewer")
    jar = {"Cookie": f"xf_staff={cookie}"}

    async def alive() -> bool:
        page = await raw.get("/staff/", headers=jar, allow_redirects=False)
        api = await raw.get("/api/v1/me", headers=jar)
        assert (page.status == 200) == (api.status == 200)
        if page.status != 200:
            assert page.status == 302 and page.headers["Location"].startswith("/staff/login")
            assert api.status == 401
        return page.status == 200

    clock.advance(seconds=idle.total_seconds() - 60)
    assert await alive()  # activity slides the idle expiry
    clock.advance(seconds=idle.total_seconds() - 60)
    assert await alive()
    clock.advance(seconds=idle.total_seconds() + 1)
    assert not await alive()

    cookie, _ = await world.session("viewer")
    jar = {"Cookie": f"xf_staff={cookie}"}
    lived = timedelta()
    while lived + idle / 2 < services.accounts.session_max:
        clock.advance(seconds=idle.total_seconds() / 2)
        lived += idle / 2
        assert await alive()
    clock.advance(seconds=idle.total_seconds() / 2)
    assert not await alive()  # busy or not, a session ends at its absolute limit


CITIZEN_WORDS = "请打我电话13655554444，我的身份证330106199001011234"
MASKED_VIEWS = {  # route -> how the page is fetched
    "console": "/staff/cases/{case}",
    "api": "/api/v1/cases/{case}",
}


async def test_citizen_texts_are_masked_for_roles_without_pii(raw: Any, services: Services) -> None:
    world = await _world(services)
    row, _, _ = await db_state(services, world.case)
    async with services.db.transaction() as conn:
        await conn.execute(
            update(case_table)
            .where(case_table.c.id == row.id)
            .values(rating="dissatisfied", rating_comment=CITIZEN_WORDS)
        )
        await case_store.add_event(
            conn, row.id, at=row.submitted_at, actor="citizen", kind="rated", note=CITIZEN_WORDS
        )
        await case_store.add_event(
            conn,
            row.id,
            at=row.submitted_at,
            actor="citizen",
            kind="review_requested",
            message=CITIZEN_WORDS,
            data={"reason": CITIZEN_WORDS},
        )
        await conn.execute(
            update(attachment_table)
            .where(attachment_table.c.id == world.attachment)
            .values(filename="身份证13655554444.png")
        )
    wrong = []
    for role in ("admin", "supervisor", "handler_own", "viewer"):
        for kind, route in MASKED_VIEWS.items():
            path = route.format(case=world.case)
            if kind == "api":
                headers = {"Authorization": f"Bearer {world.tokens[role]}"}
            else:
                cookie, _ = await world.session(role)
                headers = {"Cookie": f"xf_staff={cookie}"}
            response = await raw.get(path, headers=headers, allow_redirects=False)
            assert response.status == 200, (role, kind)
            text = await response.text()
            shown = "13655554444" in text or "330106199001011234" in text
            download = f"/attachments/{world.attachment}" in text
            pii = role != "viewer"
            if shown != pii or download != pii:
                wrong.append(f"{kind} as {role}: numbers shown {shown}, download link {download}")
    assert not wrong, "\n".join(wrong)
