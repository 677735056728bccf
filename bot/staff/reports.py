"""The department report of a period (月报 / 季报): the counts (新收, 已办结, 在办, 转出), the
assessed rates, and a ranking by 按期办结率 — the same figures as the dashboard, from
:mod:`bot.cases.kpis` — and its XLSX file.

Cases are counted under their lead department (承办单位); a staff member sees the rows of
the cases in their scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.styles import Font

from bot.cases import kpis
from bot.cases.kpis import COUNTS, RATES, Figure, Period
from bot.staff.access import Permission, StaffMember
from bot.staff.casework import Casework, scope_of
from bot.storage.case_query import scope_clause
from bot.storage.staff import add_audit
from bot.storage.tables import cases

RANKED_BY = "on_time"  # 按期办结率
PERCENT = "0.0%"


@dataclass(frozen=True)
class ReportRow:
    """One department's figures and its place in the ranking (None: nothing fell due)."""

    department: str
    figures: dict[str, Figure]
    rank: int | None


@dataclass(frozen=True)
class DepartmentReport:
    """Every department's figures over a period, best 按期办结率 first, and the total."""

    period: Period
    rows: list[ReportRow]
    total: dict[str, Figure]
    # the same figures per channel of arrival (来信, 来访, 来电, 网上, 微信, …), by code
    by_channel: dict[str, dict[str, Figure]] = field(default_factory=dict)


def ranked(by_department: dict[str, dict[str, Figure]]) -> list[ReportRow]:
    """Rows by 按期办结率, highest first (equal rates share a rank); unmeasured ones last."""

    def key(item: tuple[str, dict[str, Figure]]) -> tuple[bool, float, str]:
        value = item[1][RANKED_BY].value
        return value is None, -(value or 0.0), item[0]

    rows: list[ReportRow] = []
    for position, (department, figures) in enumerate(sorted(by_department.items(), key=key), 1):
        value = figures[RANKED_BY].value
        rank: int | None = None
        if value is not None:
            previous = rows[-1] if rows else None
            same = previous and previous.figures[RANKED_BY].value == value
            rank = previous.rank if same and previous else position
        rows.append(ReportRow(department, figures, rank))
    return rows


async def department_report(
    work: Casework, member: StaffMember, period: Period
) -> DepartmentReport:
    """The report of a period within the member's scope."""
    member.require(Permission.CASE_READ)
    async with work.db.read() as conn:
        where = [c for c in [scope_clause(conn, scope_of(member))] if c is not None]
        window = work.window(conn, period)
        grouped = await kpis.count(conn, window, where, by=cases.c.department)
        channels = await kpis.count(conn, window, where, by=cases.c.channel)
        total = (await kpis.count(conn, window, where))[None]
    rows = ranked({str(k): v for k, v in grouped.items()})
    return DepartmentReport(period, rows, total, {str(k): v for k, v in sorted(channels.items())})


async def export_report(
    work: Casework,
    member: StaffMember,
    period: Period,
    out: IO[bytes],
    *,
    title: str,
    name: Callable[[str], str],
    department: Callable[[str], str],
    ip: str = "",
    channel: Callable[[str], str] = str,
) -> DepartmentReport:
    """Write the report as XLSX (permission ``export``, audited); ``name`` gives a column's
    header from its key ("report.rank", "kpi.on_time"), ``department`` a department's name."""
    member.require(Permission.EXPORT)
    report = await department_report(work, member, period)
    await asyncio.to_thread(write_xlsx, report, out, title, name, department, channel)
    async with work.db.transaction() as conn:
        await add_audit(
            conn,
            at=work.clock(),
            actor=member.login,
            staff_id=member.id,
            action="report.export",
            target="xlsx",
            detail={"period": period.kind, "first": str(period.first), "last": str(period.last)},
            ip=ip,
        )
    return report


def write_xlsx(
    report: DepartmentReport,
    out: IO[bytes],
    title: str,
    name: Callable[[str], str],
    department: Callable[[str], str],
    channel: Callable[[str], str] = str,
) -> None:
    """Two sheets: the departments (a title row, the header, a row per department, then
    the total), and the same figures per channel of arrival."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=13)
    keys = [f"kpi.{code}" for code in (*COUNTS, *RATES)]
    sheet.append([name("report.rank"), name("report.department"), *(name(k) for k in keys)])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in report.rows:
        sheet.append([row.rank, department(row.department), *_values(row.figures)])
    sheet.append([None, name("report.total"), *_values(report.total)])
    for line in sheet.iter_rows(min_row=3, min_col=3 + len(COUNTS)):
        for cell in line:
            cell.number_format = PERCENT
    sheet.column_dimensions["B"].width = 28
    sheet.freeze_panes = "C3"
    by_channel = book.create_sheet(name("report.by_channel")[:31])
    by_channel.append([title])
    by_channel["A1"].font = Font(bold=True, size=13)
    by_channel.append([name("report.channel"), *(name(k) for k in keys)])
    for cell in by_channel[2]:
        cell.font = Font(bold=True)
    for code, figures in report.by_channel.items():
        by_channel.append([channel(code), *_values(figures)])
    by_channel.append([name("report.total"), *_values(report.total)])
    for line in by_channel.iter_rows(min_row=3, min_col=2 + len(COUNTS)):
        for cell in line:
            cell.number_format = PERCENT
    by_channel.column_dimensions["A"].width = 16
    book.save(out)


def _values(figures: dict[str, Figure]) -> list[Any]:
    return [
        *(figures[c].denominator for c in COUNTS),
        *(figures[c].value for c in RATES),
    ]
