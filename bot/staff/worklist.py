"""我的待办: a handler's open cases by current deadline, with working days left and the
next step, and their department's cases that nobody has taken yet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from bot.cases.clocks import DeadlineState
from bot.domain.statuses import OPEN_STATUSES
from bot.staff.access import Permission, StaffMember
from bot.staff.actions import BY_NAME
from bot.staff.casework import Casework
from bot.staff.pii_policy import PiiPolicy
from bot.storage import cases as case_store
from bot.storage.cases import CaseRow
from bot.storage.tables import cases

MAX_ITEMS = 200  # per list; a queue longer than this is a matter for the case list


@dataclass(frozen=True, slots=True)
class TodoItem:
    """One open case on a worklist."""

    case: CaseRow
    due: datetime | None  # the current deadline
    days_left: int | None  # working days to the deadline; negative: overdue by that many
    state: DeadlineState | None  # ok / near_due / overdue
    next_action: str | None  # the catalogue step this member can take now (None: waiting)


@dataclass(frozen=True, slots=True)
class Todo:
    """A handler's worklist: cases named to them, and their departments' untaken cases."""

    mine: list[TodoItem]
    queue: list[TodoItem]

    @property
    def count(self) -> int:
        """Everything waiting (the navigation badge)."""
        return len(self.mine) + len(self.queue)


def has_worklist(member: StaffMember) -> bool:
    """Whether the member works cases of their own (a handler of a department)."""
    return member.can(Permission.CASE_ACT) and not member.sees_all_departments


async def todo(work: Casework, member: StaffMember) -> Todo:
    """The member's worklist, each list by current deadline (none last), soonest first."""
    member.require(Permission.CASE_READ)
    if not has_worklist(member):
        return Todo([], [])
    login = member.login
    open_ = cases.c.status.in_(sorted(OPEN_STATUSES))
    order = (cases.c.due_at.is_(None), cases.c.due_at, cases.c.id)
    async with work.db.read() as conn:
        mine_rows = await conn.execute(
            select(cases.c.id)
            .where(open_, cases.c.handler == login)
            .order_by(*order)
            .limit(MAX_ITEMS)
        )
        queue_rows = await conn.execute(
            select(cases.c.id)
            .where(
                open_,
                cases.c.handler == "",
                cases.c.department.in_(list(member.departments)),
            )
            .order_by(*order)
            .limit(MAX_ITEMS)
        )
        mine_ids = [int(r[0]) for r in mine_rows]
        queue_ids = [int(r[0]) for r in queue_rows]
        loaded: dict[int, CaseRow] = {}
        for case_id in (*mine_ids, *queue_ids):
            row = await case_store.by_id(conn, case_id)
            if row is not None:
                loaded[case_id] = row
        opinions = {i: await case_store.opinions(conn, i) for i in loaded}

    def item(case: CaseRow) -> TodoItem:
        refused = work.refused(member, case, opinions[case.id])
        steps = [a for a in work.allowed(member, case) if BY_NAME[a].step and a not in refused]
        shown = PiiPolicy.of(member).case(case)
        if case.due_at is None:
            return TodoItem(shown, None, None, None, steps[0] if steps else None)
        return TodoItem(
            shown,
            case.due_at,
            days_left(work, case.due_at),
            work.lifecycle.deadline(case.due_at),
            steps[0] if steps else None,
        )

    return Todo(
        [item(loaded[i]) for i in mine_ids if i in loaded],
        [item(loaded[i]) for i in queue_ids if i in loaded],
    )


def days_left(work: Casework, due: datetime) -> int:
    """Working days (config/calendar) from today to the deadline's day, office time;
    negative once the deadline has passed."""
    tz = work.lifecycle.tz
    today = work.clock().astimezone(tz).date()
    day = due.astimezone(tz).date()
    calendar = work.lifecycle.config.calendar
    if due < work.clock():
        return -max(calendar.working_days_between(day, today), 0) if day < today else 0
    return calendar.working_days_between(today, day)


async def todo_count(work: Casework, member: StaffMember) -> int:
    """How many cases wait on the member's worklist (0 for those without one)."""
    if not has_worklist(member):
        return 0
    async with work.db.read() as conn:
        found = await conn.execute(
            select(func.count()).where(
                cases.c.status.in_(sorted(OPEN_STATUSES)),
                or_(
                    cases.c.handler == member.login,
                    (cases.c.handler == "") & cases.c.department.in_(list(member.departments)),
                ),
            )
        )
        return int(found.scalar() or 0)
