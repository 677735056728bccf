"""The staff actions catalogue drives the API, the console and the CLI; the named handler;
我的待办; 常用语."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.__main__ import parser
from bot.app import Services
from bot.staff.access import Role, StaffMember
from bot.staff.actions import ACTIONS, BY_NAME, CASE_ACTIONS
from bot.staff.canned import CannedError, case_facts, load_canned
from bot.staff.casework import ActionError, CaseNotFound
from bot.staff.worklist import days_left, todo
from bot.storage import cases
from bot.storage.cases import CaseRow
from bot.storage.tables import audit_log, case_events
from bot.web import api_models as m
from bot.web.api import ROUTES
from bot.web.i18n import TEXTS
from bot.web.openapi import document
from tests.cases.lifecycle_support import make_case
from tests.web.conftest import CONFIG_DIR, log_in

NOW = datetime.now(UTC)
DUBAN = StaffMember(2, "duban", "", Role.SUPERVISOR, ())
ZJJ = StaffMember(3, "zjj", "", Role.HANDLER, ("330102-zjj",))
RSJ = StaffMember(4, "rsj", "", Role.HANDLER, ("330106-rsj",))


async def _case(services: Services, department: str = "330102-zjj", **values: Any) -> str:
    case_id = await make_case(
        services.db,
        values.pop("at", NOW - timedelta(days=1)),
        user=f"u-{department}-{values.get('status', '')}-{len(str(values))}",
        department=department,
        region="330102",
        answers={"request": "小区物业违规收费"},
        **values,
    )
    async with services.db.read() as conn:
        row = await cases.by_id(conn, case_id)
    assert row is not None
    return row.tracking_no


async def _handler_of(services: Services, number: str) -> str:
    async with services.db.read() as conn:
        row = await cases.by_tracking_no(conn, number)
    assert row is not None
    return row.handler


def _subcommands(p: argparse.ArgumentParser, *path: str) -> dict[str, argparse.ArgumentParser]:
    for name in path:
        p = _choices(p)[name]
    return _choices(p)


def _choices(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


# ------------------------------------------------------------------ one spec, three faces


def test_every_action_is_in_the_api_the_openapi_document_and_the_cli() -> None:
    routes = {r.operation_id: r for r in ROUTES}
    doc = json.loads(json.dumps(document(ROUTES)))
    commands = _subcommands(parser(), "case")
    for spec in ACTIONS:
        route = routes[f"caseAction_{spec.name}"]
        assert route.body is m.ACTION_BODIES[spec.name]
        assert route.method == "POST" and route.path.endswith(f"/actions/{spec.name}")
        body = route.body.model_json_schema()
        assert set(body["properties"]) == {p.name for p in spec.params}, spec.name
        assert set(body.get("required", [])) == {p.name for p in spec.params if p.required}
        path = doc["paths"][f"/api/v1/cases/{{tracking_no}}/actions/{spec.name}"]["post"]
        assert path["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{spec.model_name}"
        }
        assert spec.model_name in doc["components"]["schemas"]
        cli = commands[spec.cli_name]
        dests = {a.dest for a in cli._actions}
        assert {"number", *(p.name for p in spec.params)} <= dests, spec.name
        for param in spec.params:
            flags = {o for a in cli._actions if a.dest == param.name for o in a.option_strings}
            assert flags == set(param.cli_flags), (spec.name, param.name)
    assert set(CASE_ACTIONS) == {s.name for s in ACTIONS}
    assert "show" in commands and "due" in commands  # the CLI's two reads stay


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_action_and_parameter_is_worded(lang: str) -> None:
    for spec in ACTIONS:
        assert spec.label in TEXTS[lang], spec.name
        assert f"event.{spec.event}" in TEXTS[lang], spec.event
        for param in spec.params:
            assert param.label in TEXTS[lang], (spec.name, param.name)


async def test_the_case_page_renders_every_open_action_from_its_spec(
    client: Any, services: Services
) -> None:
    number = await _case(services, status="in_progress")
    staff = await log_in(client, "duban")
    page = await (await client.get(f"/staff/cases/{number}")).text()
    allowed = await services.casework.permitted(
        DUBAN, (await services.casework.lifecycle.get(number))
    )
    for name in allowed:
        spec = BY_NAME[name]
        if not spec.form:  # flag: one toggle per staff flag instead of a form
            assert f'action="/staff/cases/{number}/actions/{name}"' in page, name
            continue
        assert f'id="action-{name}"' in page, name
        for param in spec.params:
            assert f'id="{name}-{param.name}"' in page, (name, param.name)
    # the generic POST takes a parameter the old console never had a form for
    response = await staff.post(f"/staff/cases/{number}/actions/edit", {"people": "7"})
    assert response.status == 303
    async with services.db.read() as conn:
        row = await cases.by_tracking_no(conn, number)
    assert row is not None and row.people_count == 7 and "group_petition" in row.flags


async def test_console_refuses_what_the_spec_refuses(client: Any, services: Services) -> None:
    number = await _case(services, status="in_progress")
    staff = await log_in(client, "duban")
    response = await staff.post(f"/staff/cases/{number}/actions/extend", {"days": "x"})
    assert response.status == 303
    page = await (await client.get(f"/staff/cases/{number}")).text()
    assert "延期天数的取值无效" in page


# ------------------------------------------------------------------ the named handler


async def test_handler_rules(services: Services) -> None:
    work = services.casework
    number = await _case(services, status="assigned")
    # a handler takes a case of their own department (认领) …
    await work.act(ZJJ, number, "assign_handler", {"handler": "zjj"})
    assert await _handler_of(services, number) == "zjj"
    # … but names nobody else, and nothing in another department's case
    with pytest.raises(ActionError) as refused:
        await work.act(ZJJ, number, "assign_handler", {"handler": "someone"})
    assert refused.value.code == "handler_others"
    other = await _case(services, "330106-rsj", status="assigned")
    with pytest.raises(CaseNotFound):  # out of scope: not found, as by URL
        await work.act(ZJJ, other, "assign_handler", {"handler": "zjj"})
    co_handled = await _case(
        services, "330106-rsj", status="assigned", co_departments=["330102-zjj"]
    )
    with pytest.raises(ActionError) as refused:  # a co-handler names nobody
        await work.act(ZJJ, co_handled, "assign_handler", {"handler": "zjj"})
    assert refused.value.code == "handler_department"
    # a supervisor names only an active handler of the lead department
    with pytest.raises(ActionError) as refused:
        await work.act(DUBAN, number, "assign_handler", {"handler": "rsj"})
    assert refused.value.code == "handler_unknown"
    with pytest.raises(ActionError) as refused:
        await work.act(DUBAN, number, "assign_handler", {"handler": "duban"})
    assert refused.value.code == "handler_unknown"
    # the handler gives their own case back to the department's queue
    await work.act(ZJJ, number, "assign_handler", {"handler": ""})
    assert await _handler_of(services, number) == ""
    await work.act(DUBAN, number, "assign_handler", {"handler": "zjj", "note": "熟悉情况"})
    assert await _handler_of(services, number) == "zjj"
    # recorded as an internal event, audited
    async with services.db.read() as conn:
        events = (
            await conn.execute(select(case_events).where(case_events.c.kind == "handler_assigned"))
        ).all()
        audits = (
            await conn.execute(select(audit_log).where(audit_log.c.action == "case.assign_handler"))
        ).all()
    assert len(events) == 3 and not any(e.public for e in events)
    assert events[-1].data == {"handler": "zjj", "before": ""} and events[-1].note == "熟悉情况"
    assert len(audits) == 3
    # a new lead department: the named handler goes with the old one
    accepted = await _case(services, status="accepted")
    await work.act(ZJJ, accepted, "assign_handler", {"handler": "zjj"})
    await work.act(DUBAN, accepted, "assign", {"department": "330106-rsj"})
    assert await _handler_of(services, accepted) == ""
    # a closed case gets no handler
    closed = await _case(services, status="closed")
    with pytest.raises(ActionError) as refused:
        await work.act(DUBAN, closed, "assign_handler", {"handler": "zjj"})
    assert refused.value.conflict


async def test_handler_is_shown_and_filtered(client: Any, services: Services) -> None:
    mine = await _case(services, status="assigned")
    free = await _case(services, status="assigned")
    staff = await log_in(client, "zjj")
    page = await (await client.get(f"/staff/cases/{mine}")).text()
    assert 'id="take-case"' in page and "未指定（本单位待认领）" in page
    response = await staff.post(f"/staff/cases/{mine}/actions/assign_handler", {"handler": "zjj"})
    assert response.status == 303
    page = await (await client.get(f"/staff/cases/{mine}")).text()
    assert 'id="take-case"' not in page
    listed = await (await client.get("/staff/cases?handler=zjj")).text()
    assert mine in listed and free not in listed
    listed = await (await client.get("/staff/cases?handler=-")).text()
    assert free in listed and mine not in listed
    api = await client.get("/api/v1/cases?handler=zjj")
    items = (await api.json())["items"]
    assert [i["tracking_no"] for i in items] == [mine] and items[0]["handler"] == "zjj"


# ------------------------------------------------------------------ 我的待办


async def test_todo_order_days_left_and_next_step(client: Any, services: Services) -> None:
    work = services.casework
    later = await _case(services, status="in_progress", due_at=NOW + timedelta(days=20))
    overdue = await _case(services, status="in_progress", due_at=NOW - timedelta(days=9))
    soon = await _case(services, status="assigned", due_at=NOW + timedelta(days=3))
    queued = await _case(services, status="accepted", due_at=NOW + timedelta(days=5))
    await _case(services, "330106-rsj", status="assigned")  # another department's
    await _case(services, status="closed")  # not open
    for number in (later, overdue, soon):
        await work.act(ZJJ, number, "assign_handler", {"handler": "zjj"})
    found = await todo(work, ZJJ)
    assert [i.case.tracking_no for i in found.mine] == [overdue, soon, later]
    assert [i.case.tracking_no for i in found.queue] == [queued]
    first, second, third = found.mine
    assert first.state == "overdue" and first.days_left is not None and first.days_left < 0
    assert second.days_left == days_left(work, NOW + timedelta(days=3))
    assert third.days_left is not None and second.days_left < third.days_left
    calendar = work.lifecycle.config.calendar
    today = NOW.astimezone(work.lifecycle.tz).date()
    due_day = (NOW + timedelta(days=20)).astimezone(work.lifecycle.tz).date()
    assert third.days_left == calendar.working_days_between(today, due_day) < 20
    assert first.next_action == "answer" and second.next_action == "start"
    # a supervisor has no worklist of their own
    assert (await todo(work, DUBAN)).count == 0

    await log_in(client, "zjj")
    page = await (await client.get("/staff/todo")).text()
    assert page.index(overdue) < page.index(soon) < page.index(later) < page.index(queued)
    assert 'id="todo-count">4<' in page and "已超期" in page
    cases_page = await (await client.get("/staff/cases")).text()
    assert 'id="todo-count">4<' in cases_page  # the badge on every page
    api = await (await client.get("/api/v1/todo")).json()
    assert [i["case"]["tracking_no"] for i in api["mine"]] == [overdue, soon, later]
    assert api["count"] == 4 and api["mine"][0]["days_left"] < 0


# ------------------------------------------------------------------ 常用语


def test_canned_texts_fill_their_placeholders() -> None:
    canned = load_canned(CONFIG_DIR)
    assert set(canned.groups) == {"answer", "reject", "reply", "notice"}
    case = CaseRow(
        id=1,
        tracking_no="XF2611210482735",
        contact_id=1,
        channel="web",
        status="in_progress",
        lang="zh",
        appeal_type="",
        category="",
        region="",
        phone="",
        answers={},
        flags=[],
        submitted_at=datetime(2026, 11, 21, 2, tzinfo=UTC),
        updated_at=datetime(2026, 11, 21, 2, tzinfo=UTC),
        due_at=datetime(2027, 1, 20, 15, 59, tzinfo=UTC),
    )
    tz = ZoneInfo("Asia/Shanghai")
    filled = canned.for_case(case, "zh", tz, "上城区住建局")
    reply = dict(filled["reply"])["已收到正在办理"]
    assert "XF261121-048273-5" in reply and "2027-01-20" in reply and "{" not in reply
    english = dict(canned.for_case(case, "en", tz, "Housing")["answer"])["Supported"]
    assert "XF261121-048273-5" in english and "Housing" in english
    assert case_facts(case, tz, "")["answer_due"] == ""


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("answer:\n  - {title: x, text: '见 {name}'}\n", "unknown placeholder {name}"),
        ("greeting:\n  - {title: x, text: y}\n", "unknown group 'greeting'"),
        ("reply:\n  - {title: {en: x}, text: y}\n", "needs a zh text"),
        ("reply:\n  - {title: x, text: '{deadline!r}'}\n", "unknown placeholder"),
    ],
)
def test_check_config_refuses_bad_canned_texts(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "canned.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CannedError, match=error.replace("{", r"\{").replace("}", r"\}")):
        load_canned(tmp_path)


async def test_canned_picker_on_every_text_field_with_a_group(
    client: Any, services: Services
) -> None:
    number = await _case(services, status="in_progress", due_at=NOW + timedelta(days=20))
    await log_in(client, "duban")  # extensions are theirs
    page = await (await client.get(f"/staff/cases/{number}")).text()
    for target in ("answer-text", "reply-text", "extend-reason", "answer-message"):
        assert f'data-target="{target}"' in page, target
    assert "console-canned.js" in page and 'class="pre canned-text"' in page
