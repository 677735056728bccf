"""The API's measures: periods and KPI figures as JSON, and the department report
(GET /api/v1/reports/departments, and .xlsx) — the dashboard's numbers, from bot.cases.kpis."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiohttp import web

from bot.cases.kpis import Figure, Period, PeriodError
from bot.staff.access import Permission
from bot.staff.casework import Casework
from bot.staff.reports import DepartmentReport, department_report
from bot.web import api_models as m
from bot.web.api_routes import API_PREFIX, ApiError, Call, FieldError, Route
from bot.web.periods import XLSX, drill_url, report_download

CASES = f"{API_PREFIX}/cases"


def period_of_query(q: m.PeriodQuery, work: Casework) -> Period:
    """The period of the query (422 when it cannot be measured)."""
    try:
        if q.period == "custom" and (q.from_ is None or q.to is None):
            raise PeriodError("a custom period needs from and to")
        return work.period(q.period, q.from_, q.to)
    except PeriodError as exc:
        raise ApiError(
            422,
            "validation_failed",
            str(exc),
            [FieldError(loc=["query", "period"], msg=str(exc), type="period")],
        ) from None


def period_out(period: Period, tz: ZoneInfo) -> m.PeriodOut:
    """A period as JSON."""
    start, end = period.bounds(tz)
    return m.PeriodOut(kind=period.kind, first=period.first, last=period.last, start=start, end=end)


def kpi_out(figure: Figure, period: Period | None = None) -> m.KpiOut:
    """A measure as JSON; with the period, the links to its cases."""
    links: dict[str, str | None] = {"cases": None, "missed": None}
    if period is not None:
        links["cases"] = drill_url(period, figure.code, path=CASES)
        if figure.numerator is not None:
            links["missed"] = drill_url(period, figure.code, "missed", path=CASES)
    return m.KpiOut(
        code=figure.code,  # type: ignore[arg-type]
        numerator=figure.numerator,
        denominator=figure.denominator,
        value=figure.value,
        **links,
    )


def report_out(report: DepartmentReport, tz: ZoneInfo) -> m.ReportOut:
    """The department report as JSON."""
    return m.ReportOut(
        period=period_out(report.period, tz),
        rows=[
            m.ReportRowOut(
                department=row.department,
                rank=row.rank,
                kpis={code: kpi_out(f) for code, f in row.figures.items()},
            )
            for row in report.rows
        ],
        total={code: kpi_out(f, report.period) for code, f in report.total.items()},
        by_channel={
            channel: {code: kpi_out(f) for code, f in figures.items()}
            for channel, figures in report.by_channel.items()
        },
    )


async def report(call: Call[m.ReportQuery, None]) -> m.ReportOut:
    """GET /api/v1/reports/departments."""
    work = call.services.casework
    found = await department_report(work, call.member, period_of_query(call.query, work))
    return report_out(found, call.services.timezone)


async def report_xlsx(call: Call[m.ReportQuery, None]) -> web.StreamResponse:
    """GET /api/v1/reports/departments.xlsx."""
    lang = call.query.lang or call.member.lang
    labels = call.services.exporter.labels
    work = call.services.casework
    period = period_of_query(call.query, work)
    return await report_download(work, labels, call.member, period, lang, call.ip)


ROUTES = [
    Route(
        "GET",
        f"{API_PREFIX}/reports/departments",
        report,
        "departmentReport",
        "Per-department counts and rates of a period, ranked by 按期办结率",
        "dashboard",
        Permission.CASE_READ,
        query=m.ReportQuery,
        response=m.ReportOut,
        errors=(422,),
    ),
    Route(
        "GET",
        f"{API_PREFIX}/reports/departments.xlsx",
        report_xlsx,
        "departmentReportXlsx",
        "The department report of a period as XLSX",
        "dashboard",
        Permission.EXPORT,
        query=m.ReportQuery,
        files=(XLSX,),
        errors=(422,),
    ),
]
