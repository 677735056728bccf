"""Two texts, never confused: what staff tell the petitioner reaches them, internal notes never.

Every staff action is taken with both texts on real cases of two web-chat citizens (one
case linked to the other, a third rejected, a fourth transferred), and after each step
everything a citizen can read is collected: the pushes written to the outbox (every
channel's payload), the status answers by tracking number, the "my cases" list and the
web chat history. No internal note may appear in any of it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.app import Services, create_app
from bot.domain.search import case_search_doc
from bot.domain.tracking import format_tracking_no
from bot.staff.access import Role, StaffMember
from bot.staff.actions import CASE_ACTIONS
from bot.storage import cases
from bot.storage import staff as staff_store
from bot.storage.tables import contacts, outbox
from tests.cases.lifecycle_support import make_case

SUPERVISOR = StaffMember(2, "duban", "", Role.SUPERVISOR, ())
REVIEWER = StaffMember(2, "duban-fucha", "", Role.SUPERVISOR, ())  # 复查
RECHECKER = StaffMember(1, "admin", "", Role.ADMIN, ())  # 复核
SECRET = "机密批注"  # every internal note carries it; no citizen output may


def internal(action: str) -> str:
    return f"{SECRET}[{action}]：该村已有3户越级上访，注意稳控"


def told(action: str) -> str:
    return f"告知[{action}]：请保持电话畅通"


class WebCitizen:
    """A web-chat citizen: a cookie session and what they can read."""

    def __init__(self, client: Any, services: Services) -> None:
        self.client = client
        self.services = services
        self.seen: list[str] = []

    async def open(self) -> str:
        resp = await self.client.get("/chat")
        assert resp.status == 200
        await self.say("你好")
        async with self.services.db.read() as conn:
            rows = (await conn.execute(select(contacts.c.address, contacts.c.id))).all()
        return str(max(rows, key=lambda r: r.id).address)

    async def say(self, text: str) -> str:
        body = {"client_id": uuid.uuid4().hex, "text": text}
        resp = await self.client.post("/chat/api/messages", json=body)
        assert resp.status == 200, await resp.text()
        reply = "\n".join(r["text"] for r in (await resp.json())["replies"])
        self.seen.append(reply)
        return reply

    async def history(self) -> str:
        resp = await self.client.get("/chat/api/history")
        assert resp.status == 200
        return "\n".join(m["text"] for m in (await resp.json())["messages"])


async def _case_for(services: Services, address: str, request: str) -> str:
    answers = {"request": request, "name": "王小明", "phone": "13912345678", "address": "西湖区"}
    case_id = await make_case(
        services.db,
        datetime.now(UTC) - timedelta(days=1),
        user=address,
        department="330102-zjj",
        answers=answers,
        search_doc=case_search_doc(answers),
        phone="13912345678",
    )
    async with services.db.read() as conn:
        row = await cases.by_id(conn, case_id)
    assert row is not None
    return row.tracking_no


async def _pushes(services: Services) -> list[str]:
    async with services.db.read() as conn:
        rows = (await conn.execute(select(outbox.c.payload))).all()
    return [json.dumps(r.payload, ensure_ascii=False) for r in rows]


async def test_no_internal_note_reaches_a_citizen(services: Services, aiohttp_client: Any) -> None:
    app = create_app(services, run_worker=False)
    first = WebCitizen(await aiohttp_client(app), services)
    second = WebCitizen(await aiohttp_client(app), services)
    main = await _case_for(services, await first.open(), "村道损坏三年，请求修路")
    other = await _case_for(services, await second.open(), "同村道路损坏，请求修复")
    refused = await _case_for(services, await second.open(), "咨询户口迁移")
    sent_on = await _case_for(services, await second.open(), "请求法院执行判决")
    work = services.casework
    worker = services.worker()
    async with services.db.transaction() as conn:  # the handler named on the case
        await staff_store.insert_staff(
            conn,
            login="wang-zjj",
            display_name="王",
            password_hash="x",
            role=Role.HANDLER,
            departments=["330102-zjj"],
            lang="zh",
            now=datetime.now(UTC),
        )

    told_with: list[str] = []

    async def act(
        number: str, action: str, *, tell: bool, by: StaffMember = SUPERVISOR, **params: Any
    ) -> None:
        """Take ``action`` with an internal note, and with a message when ``tell``."""
        texts = {"note": internal(action)}
        if action == "reply":
            texts["text"] = told(action)
        elif action == "note":
            texts = {"text": internal(action)}
        elif tell:
            texts["message"] = told(action)
        await work.act(by, number, action, {**params, **texts})
        if tell:
            told_with.append(action)
        await worker.run_once()
        for citizen, own in ((first, main), (second, other)):
            await citizen.say(f"查询 {format_tracking_no(own)}")
            await citizen.say("我的事项")

    # (case, action, with a message to the petitioner too?, parameters): the internal note
    # alone is the case that leaked (the status answer showed it as the latest progress)
    steps: list[tuple[str, str, bool, dict[str, Any]]] = [
        (refused, "reject", False, {"reason": "不属于信访受理范围", "channel": "向公安机关反映"}),
        (sent_on, "transfer", True, {"to": "杭州市中级人民法院"}),
        (main, "accept", False, {}),
        (other, "link", False, {"primary": main}),
        (main, "assign", True, {"department": "330102-zjj"}),
        (main, "assign_handler", False, {"handler": "wang-zjj"}),
        (main, "start", False, {}),
        (main, "edit", False, {"people": 2}),
        (main, "extend", True, {"days": 15, "reason": "需要现场勘查"}),
        (main, "note", False, {}),
        (main, "reply", True, {}),
        (main, "flag", False, {"flag": "urgent", "on": True}),
        (main, "answer", False, {"outcome": "supported", "text": "同意修复村道，年内完工。"}),
    ]
    for number, action, tell, params in steps:
        await act(number, action, tell=tell, **params)

    # the citizens act on their answers: ratings, then 复查 and 复核 decided by staff
    await first.say("基本满意")
    await second.say("不满意")
    await first.say("申请复查")
    await first.say("1")  # the request is described first, then confirmed
    # 复查 and 复核 are decided by accounts that took no earlier decision on the case
    review = {"outcome": "explained", "text": "经复查，维持原处理意见。"}
    await act(main, "decide", tell=False, by=REVIEWER, **review)
    await first.say("申请复核")
    await first.say("1")
    recheck = {"outcome": "explained", "text": "经复核，维持复查意见。"}
    await act(main, "decide", tell=True, by=RECHECKER, **recheck)
    await act(main, "close", tell=False)
    taken = {action for _, action, _, _ in steps} | {"decide", "close"}
    assert taken == set(CASE_ACTIONS), "every staff action is walked"

    await worker.run_once()
    readable = [
        *first.seen,
        *second.seen,
        await first.history(),
        await second.history(),
        *await _pushes(services),
    ]
    leaks = [text for text in readable if SECRET in text]
    assert leaks == []
    everything = "\n".join(readable)
    for action in told_with:
        assert told(action) in everything, f"what staff told with {action!r} never arrived"

    # staff see both texts, each as what it is
    view = await work.detail(SUPERVISOR, main)
    by_kind = {e.kind: e for e in view.events}
    assert by_kind["accept"].note == internal("accept") and by_kind["accept"].message == ""
    assert by_kind["extend"].note == internal("extend")
    assert by_kind["extend"].message == told("extend")
    assert by_kind["note"].message == "" and not by_kind["note"].public
