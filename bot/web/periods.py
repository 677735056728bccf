"""KPI periods on the web: reading ``period``/``from``/``to``, naming a period, the links
from a figure to the cases behind it (the case list's ``kpi`` filter), and the department
report's XLSX download (console and API alike)."""

from __future__ import annotations

import asyncio
import tempfile
import urllib.parse
from datetime import date
from typing import IO

from aiohttp import web

from bot.cases.kpis import PERIOD_KINDS, Part, Period, PeriodError
from bot.staff.access import StaffMember
from bot.staff.casework import Casework
from bot.staff.labels import Labels
from bot.staff.reports import export_report
from bot.web.i18n import translate

CASES_PATH = "/staff/cases"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def parse_period(work: Casework, kind: str, first: str, last: str) -> Period:
    """The period asked for: ``kind`` (default month) holding ``first`` (default today),
    or from ``first`` to ``last`` for a custom one; raises PeriodError."""
    kind = kind or "month"
    if kind not in PERIOD_KINDS:
        raise PeriodError(f"period is one of {', '.join(PERIOD_KINDS)}")
    try:
        day = date.fromisoformat(first) if first else None
        end = date.fromisoformat(last) if last else None
    except ValueError:
        raise PeriodError("from and to are dates (YYYY-MM-DD)") from None
    if kind == "custom" and day is None:
        raise PeriodError("a custom period needs from and to")
    return work.period(kind, day, end)


def period_params(period: Period) -> dict[str, str]:
    """The query parameters that ask for ``period`` again."""
    params = {"period": period.kind, "from": period.first.isoformat()}
    if period.kind == "custom":
        params["to"] = period.last.isoformat()
    return params


def period_name(period: Period, lang: str) -> str:
    """2026年3月, 2026年第1季度, 2026年, or "first 至 last"."""
    first = period.first
    return translate(
        lang,
        f"period.name.{period.kind}",
        year=first.year,
        month=first.month,
        quarter=(first.month - 1) // 3 + 1,
        first=first.isoformat(),
        last=period.last.isoformat(),
    )


def drill_url(period: Period, measure: str, part: Part = "base", path: str = CASES_PATH) -> str:
    """The case list showing one part of a measure's cases over ``period``."""
    query = {
        "kpi": measure,
        "kpi_part": part,
        "kpi_from": period.first.isoformat(),
        "kpi_to": period.last.isoformat(),
    }
    return f"{path}?{urllib.parse.urlencode(query)}"


def department_name(labels: Labels, code: str, lang: str) -> str:
    """A department's name ("not assigned" for none)."""
    return labels.department(code, lang) if code else translate(lang, "report.unassigned")


async def report_download(
    work: Casework, labels: Labels, member: StaffMember, period: Period, lang: str, ip: str
) -> web.Response:
    """The department report of ``period`` as an XLSX attachment (raises AccessDenied)."""
    out: IO[bytes] = await asyncio.to_thread(tempfile.TemporaryFile)
    try:
        await export_report(
            work,
            member,
            period,
            out,
            title=translate(lang, "report.title", period=period_name(period, lang)),
            name=lambda key: translate(lang, key),
            department=lambda code: department_name(labels, code, lang),
            ip=ip,
            channel=lambda code: labels.channel(code, lang),
        )
        await asyncio.to_thread(out.seek, 0)
        body = await asyncio.to_thread(out.read)
    finally:
        await asyncio.to_thread(out.close)
    name = f"xinfang-report-{period.first.isoformat()}-{period.last.isoformat()}.xlsx"
    return web.Response(
        body=body,
        headers={
            "Content-Type": XLSX,
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
