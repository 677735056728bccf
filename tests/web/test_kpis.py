"""The assessed measures (bot.cases.kpis) against figures worked out by hand.

The office is Beijing; the clocks are the shipped ones (受理 15 days, 答复 60 days from
acceptance, a calendar-day deadline that lands on a day off moves to the next working
day; 2026 make-up working days include Sat Feb 14 and Sat Feb 28; 清明 is off Apr 4-6).
"Now" is Mon 2026-04-20 10:00. Every case is in 330106-rsj unless named Z*, which are in
330102-zjj: the handler of rsj sees only rsj's figures. Each expected figure below is a
count of the cases listed next to it, written by hand from the comments of FIXTURE.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from bot.app import Services
from bot.cases.kpis import MEASURES, Period, PeriodError, period_of, slice_of
from bot.domain.tracking import format_tracking_no
from bot.staff.access import Role, StaffMember
from bot.storage import cases
from bot.storage.case_query import CaseFilter
from bot.storage.tables import cases as cases_table
from tests.cases.lifecycle_support import make_case
from tests.web.api_support import api_for
from tests.web.conftest import log_in

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 4, 20, 10, 0, tzinfo=TZ)
ADMIN = StaffMember(1, "admin", "", Role.ADMIN, ())
RSJ = StaffMember(4, "rsj", "", Role.HANDLER, ("330106-rsj",))
MARCH = period_of("month", date(2026, 3, 1))
APRIL = period_of("month", date(2026, 4, 1))
Q1 = period_of("quarter", date(2026, 2, 10))


def at(day: str, hour: int = 10) -> datetime:
    """A local time on a 2026 day ("03-02")."""
    return datetime.fromisoformat(f"2026-{day}T{hour:02d}:00").replace(tzinfo=TZ)


@dataclass(frozen=True)
class Story:
    """A case: when it was submitted, what happened to it and when, its flags."""

    submitted: str
    steps: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    flags: tuple[str, ...] = ()
    department: str = "330106-rsj"
    why: str = field(default="", compare=False)


ANSWER = {"text": "处理意见", "outcome": "supported"}
ACCEPTED = (("01-09", "accept", {}), ("01-09", "assign", {"department": "330106-rsj"}))
# Submitted Mon Jan 5: 受理期限 Jan 20 (in January). Accepted Fri Jan 9: answer due
# Jan 9 + 60 days = Tue Mar 10, a working day, so in March.
FIXTURE: dict[str, Story] = {
    "A": Story(
        "01-05",
        (*ACCEPTED, ("03-02", "answer", ANSWER), ("03-05", "rate", {"rating": "satisfied"})),
        ("first_petition",),
        why="due Mar 10, answered Mar 2: on time; rated 满意 in March; first petition "
        "settled at once",
    ),
    "B": Story(
        "01-05",
        (*ACCEPTED, ("03-12", "answer", ANSWER), ("03-13", "rate", {"rating": "dissatisfied"})),
        ("first_petition",),
        why="due Mar 10, answered Mar 12: late (按期 and 一次办结 both missed); rated 不满意",
    ),
    "C": Story(
        "01-05",
        (*ACCEPTED, ("01-12", "start", {})),
        why="due Mar 10, still open on Apr 20: counts against 按期办结率; 在办 at the end of March",
    ),
    "D": Story(
        "01-05",
        (*ACCEPTED, ("03-03", "answer", ANSWER)),
        ("first_petition", "repeated_later"),
        why="due Mar 10, answered Mar 3 on time, but the petitioner came back (重复访): "
        "not 一次办结; not rated",
    ),
    "E": Story(
        "01-05",
        (*ACCEPTED, ("03-04", "answer", ANSWER), ("03-06", "request_review", {})),
        ("first_petition",),
        why="answered Mar 4 on time, then 复查 requested: not 一次办结",
    ),
    "F": Story(
        "01-05",
        (*ACCEPTED, ("03-01", "extend", {"days": 30, "reason": "需现场核查"})),
        why="延期 30 days from Mar 10: due Thu Apr 9, so out of March and into April, "
        "where it is open past due",
    ),
    "H": Story(
        "02-13",
        (("02-24", "accept", {}),),
        why="受理期限 Feb 13 + 15 = Sat Feb 28, a make-up working day: due in February, "
        "decided in time; answer due Apr 25 (Sat) -> Mon Apr 27, not yet passed on Apr 20",
    ),
    "I": Story(
        "03-02",
        (("03-05", "accept", {}),),
        why="受理期限 Mar 17, accepted Mar 5: in time; 在办 at the end of March",
    ),
    "J": Story(
        "03-02",
        (("03-20", "reject", {"reason": "不属于受理范围", "channel": "法院"}),),
        ("repeat_petition",),
        why="受理期限 Mar 17, rejected Mar 20: late; a 重复访 submitted in March",
    ),
    "K": Story(
        "03-02",
        flags=("group_petition",),
        why="受理期限 Mar 17, never decided: counts against 及时受理率; 集体访",
    ),
    "L": Story(
        "03-02",
        (("03-10", "transfer", {"to": "市信访局"}),),
        why="转送 Mar 10, within the clock: in time; 转出 in March",
    ),
    "M": Story(
        "03-25",
        why="受理期限 Mar 25 + 15 = Apr 9: due in April, undecided on Apr 20 (missed in April)",
    ),
    "N": Story(
        "03-02",
        (("03-04", "withdraw", {}),),
        why="withdrawn Mar 4, before its 受理期限: nothing was due",
    ),
    "Z": Story(
        "03-03",
        (("03-04", "accept", {}),),
        department="330102-zjj",
        why="zjj: 受理期限 Mar 18, accepted Mar 4: in time; 在办 at the end of March",
    ),
    "Z2": Story(
        "01-06",
        (
            ("01-09", "accept", {}),
            ("01-09", "assign", {"department": "330102-zjj"}),
            ("03-09", "answer", ANSWER),
            ("03-10", "rate", {"rating": "basically_satisfied"}),
        ),
        department="330102-zjj",
        why="zjj: due Mar 10, answered Mar 9: on time; rated 基本满意 in March",
    ),
}

# measure -> (numerator, denominator) or a count; by hand from the stories above
MARCH_ADMIN: dict[str, tuple[int, int] | int] = {
    "on_time": (4, 6),  # A D E Z2 on time; B late, C open past due; F moved to April
    "timely_acceptance": (3, 5),  # I L Z in time; J late, K undecided; N withdrawn; H Feb
    "satisfaction": (2, 3),  # A 满意, Z2 基本满意; B 不满意
    "participation": (3, 5),  # answered A B D E Z2; rated A B Z2
    "first_settled": (1, 4),  # first petitions answered A B D E; only A settled at once
    "repeat": (1, 7),  # J, of the 7 submitted in March (I J K L M N Z)
    "group": (1, 7),  # K
    "total": 7,
    "finished": 5,  # A B D E Z2
    "in_progress": 5,  # C F H I Z accepted, unanswered on Mar 31
    "transferred": 1,  # L
}
MARCH_RSJ: dict[str, tuple[int, int] | int] = {  # the same without Z and Z2
    "on_time": (3, 5),
    "timely_acceptance": (2, 4),
    "satisfaction": (1, 2),
    "participation": (2, 4),
    "first_settled": (1, 4),
    "repeat": (1, 6),
    "group": (1, 6),
    "total": 6,
    "finished": 4,
    "in_progress": 4,
    "transferred": 1,
}
APRIL_ADMIN = {
    "on_time": (0, 1),  # F open past Apr 9; H due Apr 27 is not yet due
    "timely_acceptance": (0, 1),  # M undecided past Apr 9
    "total": 0,
}
Q1_ADMIN = {
    "on_time": (4, 6),  # as March: nothing else fell due in Jan or Feb
    # A-F Z2 (due Jan 20/21), H (Feb 28), I L Z in time; J K missed; N withdrawn
    "timely_acceptance": (11, 13),
    "total": 15,  # every case of the fixture was submitted in Q1
}


async def _build(services: Services) -> dict[str, str]:
    """The fixture's cases, driven through the state machine at their own times."""
    machine = services.casework.lifecycle.lifecycle
    numbers: dict[str, str] = {}
    for index, (name, story) in enumerate(FIXTURE.items()):
        case_id = await make_case(
            services.db,
            at(story.submitted),
            user=f"kpi-{name}",
            phone=f"1390000{index:04d}",
            department=story.department,
        )
        async with services.db.transaction() as conn:
            for day, action, data in story.steps:
                actor = "citizen" if action in ("rate", "request_review", "withdraw") else "t"
                await machine.apply(conn, case_id, action, actor=actor, now=at(day), **data)
            # the flags as the flag rules would have set them, fixed here
            await conn.execute(
                update(cases_table)
                .where(cases_table.c.id == case_id)
                .values(flags=list(story.flags))
            )
            row = await cases.by_id(conn, case_id)
        assert row is not None
        numbers[name] = row.tracking_no
    services.casework.clock = lambda: NOW.astimezone(TZ)
    return numbers


def _as_expected(figures: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in expected:
        f = figures[code]
        out[code] = f.denominator if f.numerator is None else (f.numerator, f.denominator)
    return out


@pytest.fixture
async def numbers(services: Services) -> dict[str, str]:
    """The fixture, built; tracking numbers by story name."""
    return await _build(services)


async def test_figures_per_period_and_scope(services: Services, numbers: dict[str, str]) -> None:
    work = services.casework
    for member, period, expected in (
        (ADMIN, MARCH, MARCH_ADMIN),
        (RSJ, MARCH, MARCH_RSJ),
        (ADMIN, APRIL, APRIL_ADMIN),
        (ADMIN, Q1, Q1_ADMIN),
    ):
        board = await work.dashboard(member, period)
        assert _as_expected(board.figures, expected) == expected, (member.login, period)
    assert set(MARCH_ADMIN) == set(MEASURES)


async def test_drill_down_lists_the_cases_of_each_part(
    services: Services, numbers: dict[str, str]
) -> None:
    name_of = {v: k for k, v in numbers.items()}

    async def listed(member: StaffMember, measure: str, part: Any, period: Period) -> set[str]:
        flt = CaseFilter(kpi=slice_of(period, measure, part, TZ))
        page = await services.casework.list(member, flt, per_page=200)
        return {name_of[c.tracking_no] for c in page.rows}

    assert await listed(ADMIN, "on_time", "base", MARCH) == {"A", "B", "C", "D", "E", "Z2"}
    assert await listed(ADMIN, "on_time", "missed", MARCH) == {"B", "C"}
    assert await listed(RSJ, "on_time", "good", MARCH) == {"A", "D", "E"}
    assert await listed(ADMIN, "on_time", "missed", APRIL) == {"F"}
    assert await listed(ADMIN, "first_settled", "missed", MARCH) == {"B", "D", "E"}
    assert await listed(ADMIN, "timely_acceptance", "missed", MARCH) == {"J", "K"}
    assert await listed(ADMIN, "timely_acceptance", "good", MARCH) == {"I", "L", "Z"}
    assert await listed(ADMIN, "in_progress", "base", MARCH) == {"C", "F", "H", "I", "Z"}
    assert await listed(RSJ, "transferred", "base", MARCH) == {"L"}
    assert await listed(RSJ, "repeat", "good", MARCH) == {"J"}


def test_periods() -> None:
    assert (Q1.first, Q1.last) == (date(2026, 1, 1), date(2026, 3, 31))
    assert MARCH.shifted(-1) == period_of("month", date(2026, 2, 1))
    assert period_of("month", date(2026, 2, 7)).last == date(2026, 2, 28)
    assert Q1.shifted(-1) == Period("quarter", date(2025, 10, 1), date(2025, 12, 31))
    assert period_of("year", date(2026, 5, 5)).shifted(1).first == date(2027, 1, 1)
    week = period_of("custom", date(2026, 3, 2), date(2026, 3, 8))
    assert week.shifted(1) == Period("custom", date(2026, 3, 9), date(2026, 3, 15))
    start, end = MARCH.bounds(TZ)
    assert (start.isoformat(), end.isoformat()) == (
        "2026-03-01T00:00:00+08:00",
        "2026-04-01T00:00:00+08:00",
    )
    with pytest.raises(PeriodError):
        period_of("custom", date(2026, 3, 2), date(2026, 3, 1))
    with pytest.raises(PeriodError):
        period_of("week", date(2026, 3, 2))


async def _json(response: Any, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


def _figures_of(kpis: dict[str, Any]) -> dict[str, Any]:
    return {
        code: k["denominator"] if k["numerator"] is None else (k["numerator"], k["denominator"])
        for code, k in kpis.items()
    }


async def test_api_and_xlsx_report_give_the_same_numbers(
    client: Any, services: Services, numbers: dict[str, str]
) -> None:
    name_of = {v: k for k, v in numbers.items()}
    api = await api_for(client, services, "admin")
    board = await _json(await api.get("/api/v1/dashboard?period=month&from=2026-03-15"), 200)
    assert board["period"]["first"] == "2026-03-01" and board["period"]["last"] == "2026-03-31"
    assert _figures_of(board["kpis"]) == MARCH_ADMIN
    same = "/api/v1/dashboard?period=custom&from=2026-03-01&to=2026-03-31"
    assert _figures_of((await _json(await api.get(same), 200))["kpis"]) == MARCH_ADMIN
    missed = await _json(await api.get(board["kpis"]["on_time"]["missed"]), 200)
    assert {name_of[c["tracking_no"]] for c in missed["items"]} == {"B", "C"}
    assert (await api.get("/api/v1/cases?kpi=on_time&kpi_from=2026-03-01")).status == 422

    report = await _json(await api.get("/api/v1/reports/departments?from=2026-03-01"), 200)
    assert _figures_of(report["total"]) == MARCH_ADMIN
    # zjj: Z2 answered on time (1/1) ranks above rsj's 3/5
    assert [(r["department"], r["rank"]) for r in report["rows"]] == [
        ("330102-zjj", 1),
        ("330106-rsj", 2),
    ]
    rsj = await api_for(client, services, "rsj")
    own = await _json(await rsj.get("/api/v1/reports/departments?from=2026-03-01"), 200)
    assert [r["department"] for r in own["rows"]] == ["330106-rsj"]
    assert _figures_of(own["rows"][0]["kpis"]) == MARCH_RSJ == _figures_of(own["total"])

    xlsx = await api.get("/api/v1/reports/departments.xlsx?period=month&from=2026-03-01&lang=zh")
    assert xlsx.status == 200 and xlsx.content_type.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(await xlsx.read())).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][0] == "各单位考核报表 · 2026年3月"
    assert rows[1][:7] == ["排名", "承办单位", "信访总量", "已办结", "在办", "转出", "按期办结率"]
    labels = services.exporter.labels
    # rank, department, 新收 已办结 在办 转出, 按期 及时受理 一次办结 满意 参评
    assert rows[2] == [1, labels.department("330102-zjj"), 1, 1, 1, 0, 1, 1, None, 1, 1]
    assert rows[3] == [2, labels.department("330106-rsj"), 6, 4, 4, 1, 0.6, 0.5, 0.25, 0.5, 0.5]
    assert rows[4][1:7] == ["合计", 7, 5, 5, 1, 4 / 6]
    viewer = await api_for(client, services, "viewer")
    assert (await viewer.get("/api/v1/reports/departments.xlsx")).status == 403


async def test_console_period_selector_and_drill_down(
    client: Any, services: Services, numbers: dict[str, str]
) -> None:
    await log_in(client, "duban")
    page = await (await client.get("/staff/?period=quarter&from=2026-02-10")).text()
    assert "2026年第1季度" in page and "11 / 13" in page  # 及时受理率 of Q1
    page = await (await client.get("/staff/?period=month&from=2026-03-01")).text()
    assert 'id="period-name">2026年3月<' in page and "66.7%" in page  # 按期办结率 4/6
    link = (
        "/staff/cases?kpi=on_time&amp;kpi_part=missed&amp;kpi_from=2026-03-01&amp;kpi_to=2026-03-31"
    )
    assert link in page
    assert "period=month&amp;from=2026-02-01" in page  # the previous month
    listed = await (await client.get(link.replace("&amp;", "&"))).text()
    assert "考核明细：按期办结率 · 未达标 · 2026年3月" in listed
    shown = {name for name, number in numbers.items() if format_tracking_no(number) in listed}
    assert shown == {"B", "C"}
    query = link.split("?")[1].replace("&amp;", "&")
    exported = await (await client.get(f"/staff/cases/export.csv?{query}")).text()
    assert {n for n, no in numbers.items() if format_tracking_no(no) in exported} == {"B", "C"}
    bad = await (await client.get("/staff/?period=custom&from=2026-03-01")).text()
    assert "统计时段无效" in bad
    xlsx = await client.get("/staff/report.xlsx?period=year&from=2026-01-01")
    assert xlsx.status == 200
    sheet = load_workbook(io.BytesIO(await xlsx.read())).active
    assert sheet is not None and sheet["A1"].value == "各单位考核报表 · 2026年"
