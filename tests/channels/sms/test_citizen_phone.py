"""/my: a citizen confirms their mobile by an SMS code and then sees every case filed with
that number (from any channel, or registered by staff); brute force is refused."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import build_services, create_app
from bot.case_links import LINK, sign
from bot.services import Services
from bot.storage import cases, kv
from bot.storage.tables import outbox
from tests.channels.sms.conftest import SECRET
from tests.fakes_sms import FakeSms
from tests.staff.support import petition

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


@pytest.fixture
async def services(make_settings: Any) -> AsyncIterator[Services]:
    built = build_services(make_settings())
    yield built
    await built.channels["sms"].api.close()  # type: ignore[attr-defined]


async def open_my(services: Services, client: Any, case_id: int) -> str:
    """Open /my through the signed link of one of the contact's cases; the page's CSRF."""
    async with services.db.read() as conn:
        case = await cases.by_id(conn, case_id)
    assert case is not None
    token = sign(SECRET, LINK, case.contact_id, datetime.now(UTC) + timedelta(days=1))
    page = await client.get(f"/my/cases/{case.tracking_no}?k={token}")
    assert page.status == 200
    listing = await client.get("/my")
    match = _CSRF.search(await listing.text())
    assert match is not None
    return match.group(1)


async def post(client: Any, path: str, **form: str) -> str:
    resp = await client.post(path, data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    location = str(resp.headers["Location"])
    return location.removeprefix("/my?phone=")


async def last_code(services: Services, fake: FakeSms) -> str:
    await services.worker().run_once()
    assert fake.sent[-1].template_id == "2000010"
    return fake.sent[-1].params[0]


async def test_a_confirmed_mobile_shows_every_case_filed_with_it(
    services: Services, fake: FakeSms, aiohttp_client: Any
) -> None:
    db = services.db
    now = datetime.now(UTC)
    own_id, own = await petition(db, now, "web-cookie-a", channel="web", phone="13700137000")
    # registered by staff, the number kept in E.164
    _, by_staff = await petition(db, now, "+8613800138000", channel="sms", phone="+8613800138000")
    _, by_wechat = await petition(db, now, "oWeChat00000001", channel="wechat", phone="13800138000")
    _, other = await petition(db, now, "+8613900139000", channel="sms", phone="13900139000")
    client = await aiohttp_client(create_app(services, run_worker=False))
    csrf = await open_my(services, client, own_id)
    listing = await (await client.get("/my")).text()
    assert own in listing and by_staff not in listing and "发送验证码" in listing

    assert await post(client, "/my/phone", _csrf=csrf, phone="12345") == "bad_number"
    assert await post(client, "/my/phone", _csrf=csrf, phone="138 0013 8000") == "sent"
    assert await post(client, "/my/phone", _csrf=csrf, phone="13800138000") == "too_soon"
    code = await last_code(services, fake)
    assert re.fullmatch(r"\d{6}", code) and fake.sent[-1].phone == "+8613800138000"
    # only a hash is kept, and the sent outbox row no longer holds the code
    async with db.read() as conn:
        stored = await kv.get(conn, f"smscode:{(await cases.by_id(conn, own_id)).contact_id}")  # type: ignore[union-attr]
        payloads = [r.payload for r in (await conn.execute(select(outbox.c.payload))).all()]
    assert stored is not None and code not in str(stored.value)
    assert all(code not in str(p) for p in payloads)
    page = await (await client.get("/my?phone=sent")).text()
    assert "138****8000" in page and "验证码已发送" in page

    wrong = "000000" if code != "000000" else "111111"
    assert await post(client, "/my/phone/confirm", _csrf=csrf, code=wrong) == "wrong"
    assert await post(client, "/my/phone/confirm", _csrf=csrf, code=code) == "confirmed"
    listing = await (await client.get("/my")).text()
    assert all(n in listing for n in (own, by_staff, by_wechat)) and other not in listing
    assert "已确认手机号 138****8000" in listing
    # a case filed with the number is shown in full, its buttons stay with its own contact
    shown = await client.get(f"/my/cases/{by_staff}")
    assert shown.status == 200 and "评价办理结果" not in await shown.text()
    assert (await client.get(f"/my/cases/{other}")).status == 404
    refused = await client.post(
        f"/my/cases/{by_staff}/withdraw", data={"_csrf": csrf, "confirm": "yes"}
    )
    assert refused.status == 404


async def test_brute_force_is_refused(
    services: Services, fake: FakeSms, aiohttp_client: Any
) -> None:
    db = services.db
    now = datetime.now(UTC)
    own_id, _ = await petition(db, now, "web-cookie-b", channel="web", phone="13700137000")
    _, by_staff = await petition(db, now, "+8613800138000", channel="sms", phone="13800138000")
    client = await aiohttp_client(create_app(services, run_worker=False))
    csrf = await open_my(services, client, own_id)
    assert await post(client, "/my/phone", _csrf=csrf, phone="13800138000") == "sent"
    code = await last_code(services, fake)
    guesses = [f"{n:06d}" for n in range(1000) if f"{n:06d}" != code][:5]
    outcomes = [await post(client, "/my/phone/confirm", _csrf=csrf, code=g) for g in guesses]
    assert outcomes == ["wrong", "wrong", "wrong", "wrong", "locked"]
    # the right code no longer helps: locked, and the code is void
    assert await post(client, "/my/phone/confirm", _csrf=csrf, code=code) in ("locked", "expired")
    assert by_staff not in await (await client.get("/my")).text()


async def test_without_a_session_or_the_csrf_token_nothing_is_sent(
    services: Services, fake: FakeSms, aiohttp_client: Any
) -> None:
    db = services.db
    own_id, _ = await petition(db, datetime.now(UTC), "web-cookie-c", channel="web")
    client = await aiohttp_client(create_app(services, run_worker=False))
    assert (await client.post("/my/phone", data={"phone": "13800138000"})).status == 403
    await open_my(services, client, own_id)
    assert (await client.post("/my/phone", data={"phone": "13800138000"})).status == 403
    await services.worker().run_once()
    assert not fake.sent
