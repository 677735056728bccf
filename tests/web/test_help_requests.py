"""转人工 on the staff side: who asked for a person is listed, answered and closed, in scope."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.app import Services
from bot.messages import Address, InboundMessage
from bot.storage.tables import audit_log, help_requests, outbox
from tests.web.api_support import ZJJ, file_case
from tests.web.conftest import log_in

FLASH = re.compile(r'<p class="flash (\w+)"[^>]*>(.*?)</p>', re.S)
_seq = iter(range(1, 1000))


async def _say(services: Services, user: str, text: str) -> list[str]:
    """A web-chat citizen's message; the replies' texts."""
    msg = InboundMessage(
        address=Address("web", user),
        external_id=f"m-{next(_seq)}",
        received_at=datetime.now(UTC),
        text=text,
    )
    return [r.text for r in (await services.intake.handle(msg)).replies]


async def _requests(services: Services) -> list[Any]:
    async with services.db.read() as conn:
        return list(await conn.execute(select(help_requests).order_by(help_requests.c.id)))


def _shown(page: str) -> set[int]:
    return {int(i) for i in re.findall(r'id="help-(\d+)"', page)}


async def test_a_citizen_asking_for_a_person_is_listed_once_with_their_case(
    client: Any, services: Services
) -> None:
    number = await file_case(services, ZJJ, user="citizen-a")
    replies = await _say(services, "citizen-a", "你好，我的电话13912345678，转人工")
    assert not any("12345 政务服务便民热线" in r for r in replies)  # a sentence, not 转人工
    replies = await _say(services, "citizen-a", "转人工")
    assert any("12345 政务服务便民热线" in r and "转给工作人员" in r for r in replies)
    await _say(services, "citizen-a", "人工")  # again: the same request, counted
    found = await _requests(services)
    assert len(found) == 1 and found[0].times == 2 and found[0].handled_at is None

    staff = await log_in(client, "duban")
    page = await (await client.get("/staff/help")).text()
    assert _shown(page) == {found[0].id}
    assert "待处理 1 条" in page and number in page and "（共 2 次）" in page
    assert "转人工" in page  # the citizen's latest messages, for the supervisor in full
    assert "13912345678" in page
    assert staff.csrf


async def test_scope_masking_and_roles(client: Any, services: Services) -> None:
    await file_case(services, ZJJ, user="citizen-b")
    await _say(services, "citizen-b", "我的电话13912345678")
    await _say(services, "citizen-b", "转人工")
    await _say(services, "nobody-yet", "转人工")  # no case: only the office-wide roles see it
    ids = [r.id for r in await _requests(services)]

    await log_in(client, "zjj")  # the case's department
    page = await (await client.get("/staff/help")).text()
    assert _shown(page) == {ids[0]}
    await log_in(client, "rsj")  # another department
    assert _shown(await (await client.get("/staff/help")).text()) == set()
    await log_in(client, "admin")
    assert _shown(await (await client.get("/staff/help")).text()) == set(ids)
    await log_in(client, "viewer")
    assert (await client.get("/staff/help", allow_redirects=False)).status == 403


async def test_a_reply_reaches_the_citizen_and_closes_the_request(
    client: Any, services: Services
) -> None:
    await file_case(services, ZJJ, user="citizen-c")
    await _say(services, "citizen-c", "转人工")
    (request,) = await _requests(services)

    other = await log_in(client, "rsj")  # out of scope: refused, nothing sent
    response = await other.post(f"/staff/help/{request.id}/reply", {"text": "您好"})
    assert response.status == 303
    staff = await log_in(client, "zjj")
    empty = await staff.post(f"/staff/help/{request.id}/reply", {"text": "  "})
    assert empty.status == 303
    page = await (await client.get("/staff/help")).text()
    assert FLASH.search(page).group(2) == "请填写回复内容。"  # type: ignore[union-attr]

    text = "您好，我是住建局的工作人员，明天上午给您回电话。"
    assert (await staff.post(f"/staff/help/{request.id}/reply", {"text": text})).status == 303
    async with services.db.read() as conn:
        sent = list(await conn.execute(select(outbox).where(outbox.c.kind == "reply")))
        audit = list(await conn.execute(select(audit_log.c.action, audit_log.c.actor)))
    assert [(r.channel, r.address, r.payload["text"]) for r in sent] == [("web", "citizen-c", text)]
    assert ("help.reply", "zjj") in [tuple(a) for a in audit]
    (closed,) = await _requests(services)
    assert closed.handled_by == "zjj" and closed.handled_at is not None
    assert _shown(await (await client.get("/staff/help")).text()) == set()
    handled = await (await client.get("/staff/help?handled=1")).text()
    assert _shown(handled) == {request.id} and "zjj 于" in handled

    again = await staff.post(f"/staff/help/{request.id}/handled")
    assert again.status == 303
    page = await (await client.get("/staff/help")).text()
    assert FLASH.search(page).group(2) == "这条求助已经处理过了。"  # type: ignore[union-attr]
    # asking again after it was handled opens a new request
    await _say(services, "citizen-c", "转人工")
    assert [r.handled_at is None for r in await _requests(services)] == [False, True]
