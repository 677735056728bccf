"""The staff casework facade: scope, permissions, masking, audit, actions, dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.app import Services
from bot.domain.search import case_search_doc
from bot.staff.access import AccessDenied, Role, StaffMember
from bot.staff.casework import ActionError, CaseNotFound
from bot.storage import cases
from bot.storage.case_query import CaseFilter
from bot.storage.tables import audit_log, outbox
from tests.cases.lifecycle_support import make_case

NOW = datetime.now(UTC)


def _member(role: Role, *departments: str, staff_id: int = 1) -> StaffMember:
    return StaffMember(staff_id, role.value, "", role, departments)


ADMIN = _member(Role.ADMIN)
ZJJ = _member(Role.HANDLER, "330102-zjj", staff_id=3)
RSJ = _member(Role.HANDLER, "330106-rsj", staff_id=4)
VIEWER = _member(Role.VIEWER, staff_id=5)


async def _file(services: Services, department: str, request: str = "工资被拖欠三个月") -> str:
    answers = {"request": request, "name": "王小明", "phone": "13912345678", "address": "西湖区"}
    case_id = await make_case(
        services.db,
        NOW - timedelta(days=1),
        user=f"u-{department}-{request}",
        department=department,
        answers=answers,
        search_doc=case_search_doc(answers),
        flags=["first_petition"],
        phone="13912345678",
    )
    async with services.db.read() as conn:
        row = await cases.by_id(conn, case_id)
    assert row is not None
    return row.tracking_no


async def _audit_actions(services: Services) -> list[str]:
    async with services.db.read() as conn:
        rows = await conn.execute(select(audit_log.c.action).order_by(audit_log.c.id))
        return [r[0] for r in rows if not r[0].startswith("staff.")]


async def test_handlers_see_only_their_departments(services: Services) -> None:
    mine = await _file(services, "330102-zjj")
    other = await _file(services, "330106-rsj")
    work = services.casework
    page = await work.list(ZJJ, CaseFilter())
    assert [c.tracking_no for c in page.rows] == [mine]
    assert (await work.detail(ZJJ, mine)).case.tracking_no == mine
    with pytest.raises(CaseNotFound):
        await work.detail(ZJJ, other)
    with pytest.raises(CaseNotFound):
        await work.act(ZJJ, other, "accept", {})
    assert {c.tracking_no for c in (await work.list(ADMIN, CaseFilter())).rows} == {mine, other}
    assert await _audit_actions(services) == ["case.search", "case.read", "case.search"]


async def test_viewer_reads_masked_and_cannot_act(services: Services) -> None:
    number = await _file(services, "330102-zjj")
    view = await services.casework.detail(VIEWER, number)
    assert view.case.name == "张*" and view.case.phone == "139****5678"
    assert view.case.answers["phone"] == "139****5678"
    assert view.allowed_actions == []
    with pytest.raises(AccessDenied):
        await services.casework.act(VIEWER, number, "accept", {})
    full = await services.casework.detail(ZJJ, number)
    assert full.case.phone == "13912345678"


async def test_actions_go_through_the_state_machine_and_are_audited(services: Services) -> None:
    number = await _file(services, "330102-zjj")
    work = services.casework
    assert "accept" in (await work.detail(ZJJ, number)).allowed_actions
    change = await work.act(ZJJ, number, "accept", {"note": "材料齐全"})
    assert change.case.status == "accepted" and change.pushes == 1
    with pytest.raises(ActionError) as refused:
        await work.act(ZJJ, number, "answer", {"outcome": "supported", "text": "同意"})
    assert refused.value.conflict
    with pytest.raises(ActionError, match="outcome"):
        await work.act(ZJJ, number, "answer", {"outcome": "maybe", "text": "x"})
    await work.act(ZJJ, number, "note", {"text": "内部备注：联系用人单位"})
    await work.act(ZJJ, number, "reply", {"text": "请补充劳动合同照片"})
    await work.act(ZJJ, number, "flag", {"flag": "urgent", "on": True})
    view = await work.detail(ZJJ, number)
    assert "urgent" in view.case.flags
    await work.act(ZJJ, number, "flag", {"flag": "urgent", "on": False})
    assert "urgent" not in (await work.detail(ZJJ, number)).case.flags
    kinds = [(e.kind, e.public) for e in view.events]
    assert ("note", False) in kinds and ("reply", True) in kinds
    async with services.db.read() as conn:
        pushes = (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()
    assert pushes == 2  # the acceptance and the reply; the internal note is never sent
    actions = await _audit_actions(services)
    assert [a for a in actions if a.startswith("case.") and a not in ("case.read",)] == [
        "case.accept",
        "case.note",
        "case.reply",
        "case.flag.set",  # setting and clearing a flag are told apart
        "case.flag.clear",
    ]


async def test_dashboard_counts_rates_and_weeks(services: Services) -> None:
    a = await _file(services, "330102-zjj")
    await _file(services, "330102-zjj", "噪音扰民")
    await _file(services, "330106-rsj", "拖欠工资")
    work = services.casework
    await work.act(ADMIN, a, "accept", {})
    await work.act(ADMIN, a, "assign", {})
    await work.act(ADMIN, a, "answer", {"outcome": "supported", "text": "已责令支付"})
    board = await work.dashboard(ADMIN)
    assert board.counts_by_status == {"submitted": 2, "answered": 1}
    assert board.period == work.period()  # the current month by default
    figures = board.figures
    assert figures["finished"].denominator == 1  # answered now, so in this month
    assert (figures["participation"].numerator, figures["participation"].denominator) == (0, 1)
    assert figures["satisfaction"].value is None  # nothing rated yet
    assert sum(w.total for w in board.weekly) == 3
    # weeks run in office time: after 16:00 UTC it is already tomorrow in Shanghai
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert len(board.weekly) == 12 and board.weekly[-1].week_start <= today
    mine = await work.dashboard(ZJJ)
    assert sum(mine.counts_by_status.values()) == 2


async def test_unknown_action_and_bad_days(services: Services) -> None:
    number = await _file(services, "330102-zjj")
    with pytest.raises(ActionError):
        await services.casework.act(ADMIN, number, "delete", {})
    with pytest.raises(ActionError, match="days"):
        await services.casework.act(ADMIN, number, "extend", {"days": "x", "reason": "r"})
