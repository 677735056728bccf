"""Who may decide what (信访工作条例): the lead department answers, co-handlers contribute,
复查/复核 by someone else, extensions before the deadline, once, approved by 督办 staff;
and every written opinion is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.app import Services
from bot.cases.registration import view_for_owner
from bot.staff.access import AccessDenied, Role, StaffMember
from bot.staff.casework import ActionError, CaseNotFound
from bot.storage import cases
from tests.cases.lifecycle_support import make_case

NOW = datetime.now(UTC)
LEAD, CO, OTHER = "330102-zjj", "330106-rsj", "330106-mzj"
ANSWER = {"outcome": "explained", "text": "经核查，道路维修已列入明年计划。"}


def _member(login: str, role: Role, *departments: str, staff_id: int) -> StaffMember:
    # staff_id: an existing account (the audit log refers to it); the login is what counts
    return StaffMember(staff_id, login, login, role, departments)


LEAD_A = _member("zhang", Role.HANDLER, LEAD, staff_id=3)
LEAD_B = _member("li", Role.HANDLER, LEAD, staff_id=3)
CO_H = _member("wang", Role.HANDLER, CO, staff_id=3)
OTHER_H = _member("zhao", Role.HANDLER, OTHER, staff_id=3)
SUP_1 = _member("sup1", Role.SUPERVISOR, staff_id=2)
SUP_2 = _member("sup2", Role.SUPERVISOR, staff_id=2)


async def _in_progress(services: Services) -> str:
    """A case the lead department handles, with a co-handling department."""
    case_id = await make_case(services.db, NOW - timedelta(days=2), user="authority-1")
    async with services.db.read() as conn:
        row = await cases.by_id(conn, case_id)
    assert row is not None
    work = services.casework
    await work.act(SUP_1, row.tracking_no, "accept", {})
    await work.act(SUP_1, row.tracking_no, "assign", {"department": LEAD, "co_departments": [CO]})
    await work.act(LEAD_A, row.tracking_no, "start", {})
    return row.tracking_no


# action × relation of the acting handler's department to the case → refusal code
# (None: allowed; "hidden": the case is not in their scope at all)
MATRIX = [
    ("answer", LEAD_A, None),
    ("answer", CO_H, "co_handler"),
    ("answer", OTHER_H, "hidden"),
    ("reply", LEAD_A, None),
    ("reply", CO_H, "co_handler"),
    ("note", CO_H, None),
    ("flag", CO_H, "co_handler"),
    ("extend", LEAD_A, "extension_approval"),
    ("extend", CO_H, "co_handler"),
    ("extend", SUP_1, None),
]


@pytest.mark.parametrize(("action", "member", "expected"), MATRIX)
async def test_action_by_department_relation(
    services: Services, action: str, member: StaffMember, expected: str | None
) -> None:
    number = await _in_progress(services)
    work = services.casework
    if expected == "hidden":
        with pytest.raises(CaseNotFound):
            await work.detail(member, number)
        return
    view = await work.detail(member, number)
    assert view.refused.get(action) == expected
    assert (action in view.allowed_actions) == (expected is None)
    params = {
        "answer": ANSWER,
        "reply": {"text": "您好，材料已收到。"},
        "note": {"text": "协办意见：该路段属我局管养范围外。"},
        "flag": {"flag": "urgent", "on": True},
        "extend": {"days": 15, "reason": "需要现场勘查"},
    }[action]
    if expected is None:
        await work.act(member, number, action, params)
    else:
        with pytest.raises(ActionError) as refused:
            await work.act(member, number, action, params)
        assert refused.value.code == expected


async def test_co_handler_note_is_their_departments_opinion(services: Services) -> None:
    number = await _in_progress(services)
    await services.casework.act(CO_H, number, "note", {"text": "建议由街道协调施工队。"})
    await services.casework.act(LEAD_A, number, "note", {"text": "已联系街道。"})
    notes = [e for e in (await services.casework.detail(LEAD_A, number)).events if e.kind == "note"]
    assert [(e.data or {}).get("co_department") for e in notes] == [CO, None]
    assert all(not e.public for e in notes)


async def test_review_and_recheck_are_decided_by_someone_else(services: Services) -> None:
    number = await _in_progress(services)
    work, lifecycle = services.casework, services.intake.lifecycle
    await work.act(LEAD_A, number, "answer", ANSWER)
    await lifecycle.request_review(number, reason="维修计划没有具体时间")
    assert (await work.detail(LEAD_A, number)).refused["decide"] == "decided_before"
    assert (await work.detail(LEAD_B, number)).refused["decide"] == "same_department"
    with pytest.raises(ActionError) as refused:
        await work.act(LEAD_B, number, "decide", {"outcome": "supported", "text": "维持"})
    assert refused.value.code == "same_department"
    review = {"outcome": "supported", "text": "复查认为：应于三个月内完成维修。"}
    await work.act(SUP_1, number, "decide", review)
    await lifecycle.request_review(number, reason="三个月太久")  # now a 复核 request
    assert (await work.detail(SUP_1, number)).refused["decide"] == "decided_before"
    recheck = {"outcome": "supported", "text": "复核认为：维持复查意见。"}
    await work.act(SUP_2, number, "decide", recheck)

    view = await work.detail(SUP_2, number)
    assert [(o.stage, o.outcome, o.text, o.decided_by, o.department) for o in view.opinions] == [
        ("answer", "explained", ANSWER["text"], "staff:zhang", LEAD),
        ("review", "supported", review["text"], "staff:sup1", ""),
        ("recheck", "supported", recheck["text"], "staff:sup2", ""),
    ]
    # the petitioner's status shows every opinion, in order
    async with services.db.read() as conn:
        row = await cases.by_tracking_no(conn, number)
        assert row is not None
        told = await view_for_owner(conn, row, lifecycle.progress_in("zh"))
    opinions = [line for line in told.details if "意见（" in line]
    assert [line.split("（")[0] for line in opinions] == ["处理意见", "复查意见", "复核意见"]
    assert "道路维修已列入明年计划" in opinions[0] and "维持复查意见" in opinions[2]


async def test_extension_is_once_before_the_deadline_and_within_the_limit(
    services: Services,
) -> None:
    number = await _in_progress(services)
    work = services.casework
    with pytest.raises(ActionError) as too_long:
        await work.act(SUP_1, number, "extend", {"days": 60, "reason": "复杂"})
    assert too_long.value.code == "extension_days"
    await work.act(SUP_1, number, "extend", {"days": 30, "reason": "需要现场勘查"})
    assert (await work.detail(SUP_1, number)).refused["extend"] == "extension_used"
    with pytest.raises(ActionError) as again:
        await work.act(SUP_1, number, "extend", {"days": 5, "reason": "再延"})
    assert again.value.code == "extension_used"

    late = await _in_progress(services)
    async with services.db.transaction() as conn:
        row = await cases.by_tracking_no(conn, late)
        assert row is not None
        await cases.update_case(conn, row.id, NOW, answer_due_at=NOW - timedelta(days=600))
    assert (await work.detail(SUP_1, late)).refused["extend"] == "extension_late"
    with pytest.raises(ActionError) as refused:
        await work.act(SUP_1, late, "extend", {"days": 30, "reason": "补延"})
    assert refused.value.code == "extension_late"


# ---------------------------------------------------------------- the whole table

VIEWER = _member("kan", Role.VIEWER, staff_id=5)
ADMIN = _member("admin", Role.ADMIN, staff_id=1)
# who acts: role and the relation of their department to the case
WHO = {
    "admin": ADMIN,
    "supervisor": SUP_2,
    "lead": LEAD_B,
    "co-handler": CO_H,
    "other department": OTHER_H,
    "viewer": VIEWER,
}
# the status each action is tried from (one the state machine allows), and its parameters
TRIED = {
    "accept": ("submitted", {}),
    "reject": ("submitted", {"reason": "不属于信访事项", "channel": "向人民法院起诉"}),
    "transfer": ("submitted", {"to": "市交通运输局"}),
    "assign": ("accepted", {"department": LEAD, "co_departments": [CO]}),
    "start": ("assigned", {}),
    "extend": ("in_progress", {"days": 10, "reason": "需要现场勘查"}),
    "answer": ("in_progress", ANSWER),
    "decide": ("review_requested", {"outcome": "supported", "text": "复查：维持。"}),
    "close": ("rejected", {}),
    "note": ("in_progress", {"text": "内部意见"}),
    "flag": ("in_progress", {"flag": "urgent", "on": True}),
    "reply": ("in_progress", {"text": "材料已收到。"}),
    "link": ("submitted", {}),
}
# what each one gets (None: done); the answer under review was written by the lead
# department (LEAD_A), so the lead's other handler may not decide the 复查 either
DENIED = {"viewer": "role", "other department": "hidden"}
EXPECTED: dict[str, dict[str, str | None]] = {
    action: {
        "admin": None,
        "supervisor": None,
        "lead": {"extend": "extension_approval", "decide": "same_department"}.get(action),
        "co-handler": None if action == "note" else "co_handler",
        **DENIED,
    }
    for action in TRIED
}


async def _case_in(services: Services, status: str, user: str) -> str:
    """A case of the lead department (with a co-handler) in ``status``."""
    values: dict[str, object] = {"department": LEAD, "co_departments": [CO]}
    if status in ("in_progress", "review_requested"):
        values.update(accepted_at=NOW, answer_due_at=NOW + timedelta(days=50))
    case_id = await make_case(services.db, NOW, user=user, status=status, **values)
    async with services.db.transaction() as conn:
        row = await cases.by_id(conn, case_id)
        assert row is not None
        if status == "review_requested":  # answered by the lead department's LEAD_A
            await cases.add_opinion(
                conn,
                case_id,
                stage="answer",
                outcome="explained",
                text=ANSWER["text"],
                decided_by=LEAD_A.actor,
                department=LEAD,
                at=NOW,
            )
    return row.tracking_no


@pytest.mark.parametrize("action", list(TRIED))
async def test_every_action_by_every_role_and_department_relation(
    services: Services, action: str
) -> None:
    status, params = TRIED[action]
    for n, (who, member) in enumerate(WHO.items()):
        number = await _case_in(services, status, f"table-{action}-{n}")
        if action == "link":
            primary = await _case_in(services, "accepted", f"table-primary-{n}")
            params = {"primary": primary}
        expected = EXPECTED[action][who]
        work = services.casework
        if expected == "hidden":
            with pytest.raises(CaseNotFound):
                await work.act(member, number, action, dict(params))
        elif expected == "role":
            with pytest.raises(AccessDenied):
                await work.act(member, number, action, dict(params))
        elif expected is None:
            await work.act(member, number, action, dict(params))
        else:
            view = await work.detail(member, number)
            assert view.refused.get(action) == expected, (action, who)
            with pytest.raises(ActionError) as refused:
                await work.act(member, number, action, dict(params))
            assert refused.value.code == expected, (action, who)
