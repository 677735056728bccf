"""Console login, sessions, CSRF and bearer tokens."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from yarl import URL

from bot.app import Services
from bot.staff.accounts import LockedOut, LoginFailed
from tests.web.conftest import PASSWORD, log_in


async def test_login_sets_a_strict_http_only_cookie_and_logout_ends_the_session(
    client: Any,
) -> None:
    response = await client.post(
        "/staff/login",
        data={"login": "admin", "password": PASSWORD, "next": "/staff/cases?status=submitted"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/staff/cases?status=submitted"
    cookie = response.cookies["xf_staff"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    staff = await log_in(client, "admin")
    assert (await staff.post("/staff/logout")).status == 303
    page = await client.get("/staff/login", allow_redirects=False)
    assert page.status == 200 and "_csrf" not in await page.text()


async def test_wrong_password_unknown_login_and_open_redirect(client: Any) -> None:
    for login, password in (("admin", "wrong password!"), ("nobody", PASSWORD)):
        response = await client.post(
            "/staff/login", data={"login": login, "password": password}, allow_redirects=False
        )
        assert response.status == 401
        assert "账号或密码错误" in await response.text()
    response = await client.post(
        "/staff/login",
        data={"login": "admin", "password": PASSWORD, "next": "//evil.example/staff/"},
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/staff/"


async def test_account_locks_after_repeated_failures(client: Any, services: Services) -> None:
    for _ in range(services.settings.staff_max_failed_logins):
        await client.post("/staff/login", data={"login": "duban", "password": "nope nope nope"})
    response = await client.post(
        "/staff/login", data={"login": "duban", "password": PASSWORD}, allow_redirects=False
    )
    assert response.status == 429 and "锁定" in await response.text()


async def test_login_attempts_are_throttled_per_address(client: Any, services: Services) -> None:
    statuses = []
    for _ in range(services.settings.staff_login_per_ip_per_minute + 1):
        # a new login each time: the per-login lock-out does not answer first
        login = f"x{len(statuses)}"
        response = await client.post("/staff/login", data={"login": login, "password": "y"})
        statuses.append(response.status)
    assert statuses[-1] == 429 and 429 not in statuses[:-1]


async def test_unauthenticated_console_redirects_and_forms_need_csrf(client: Any) -> None:
    response = await client.get("/staff/cases?q=1", allow_redirects=False)
    assert response.status == 302
    location = URL(response.headers["Location"])
    assert (location.path, location.query["next"]) == ("/staff/login", "/staff/cases?q=1")
    staff = await log_in(client, "zjj")
    # refused forms go back to their page (303, not logged out) with the reason
    refused = await client.post("/staff/logout", data={}, allow_redirects=False)
    assert refused.status == 303 and "xf_flash" in refused.cookies
    wrong = await client.post("/staff/logout", data={"_csrf": "x" * 43}, allow_redirects=False)
    assert wrong.status == 303
    cross = await staff.post("/staff/logout", headers={"Origin": "https://evil.example"})
    assert cross.status == 303
    assert (await client.get("/staff/cases", allow_redirects=False)).status == 200  # still in
    assert (await staff.post("/staff/logout")).status == 303


async def test_a_form_sent_after_the_session_expired_comes_back_after_login(
    client: Any,
) -> None:
    """The session is gone: the form's page is where login leads, and the login page says
    that the typed text is kept (the page restores it, see console-drafts.js)."""
    path = "/staff/cases/XF2611210482733/actions/reply"
    response = await client.post(
        path,
        data={"text": "您好，材料已收到。"},
        headers={"Referer": f"http://{client.host}:{client.port}/staff/cases/XF2611210482733"},
        allow_redirects=False,
    )
    assert response.status == 303
    location = URL(response.headers["Location"])
    assert location.path == "/staff/login" and location.query["expired"] == "1"
    assert location.query["next"] == "/staff/cases/XF2611210482733"
    page = await (await client.get(str(location))).text()
    assert "登录已过期" in page and "内容已保留" in page
    client.session.cookie_jar.update_cookies({"xf_lang": "en"})
    page = await (await client.get(str(location))).text()
    assert "Your session has expired" in page


async def test_disabling_an_account_ends_its_sessions(client: Any, services: Services) -> None:
    await log_in(client, "viewer")
    assert (await client.get("/staff/login", allow_redirects=False)).status == 302
    await services.accounts.set_active("viewer", False)
    assert (await client.get("/staff/login", allow_redirects=False)).status == 200


async def test_api_bearer_tokens(client: Any, services: Services) -> None:
    missing = await client.get("/api/v1/cases")
    assert missing.status == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    bad = await client.get("/api/v1/cases", headers={"Authorization": "Bearer xft_nope"})
    assert bad.status == 401
    token = await services.accounts.issue_token("duban", "dashboard screen")
    tokens = [t for t in await _tokens(services)]
    assert await services.accounts.token_member(token) is not None
    assert await services.accounts.revoke_token(tokens[0])
    assert await services.accounts.token_member(token) is None


async def _tokens(services: Services) -> list[int]:
    from bot.storage import staff as store

    async with services.db.read() as conn:
        return [t.id for t in await store.list_tokens(conn)]


async def test_unknown_logins_lock_alike_and_unlock_lifts_a_lock(
    client: Any, services: Services
) -> None:
    accounts = services.accounts
    answers = {}
    for login in ("duban", "no-such-login"):
        for _ in range(services.settings.staff_max_failed_logins):
            with pytest.raises(LoginFailed):
                await accounts.authenticate(login, "nope nope nope")
        with pytest.raises(LockedOut) as locked:
            await accounts.authenticate(login, PASSWORD)
        answers[login] = type(locked.value)
    # a lock-out does not tell an existing login from an unknown one
    assert answers["duban"] is answers["no-such-login"] is LockedOut
    await accounts.unlock("duban", actor="test")
    assert (await log_in(client, "duban")).csrf


def test_staff_unlock_command_is_registered() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "staff", "unlock", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "login" in done.stdout
