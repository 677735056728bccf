"""GET /staff/: the dashboard — counts, deadline lists, weekly intake charts, and the
assessed measures of a period with their department report (GET /staff/report.xlsx)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from bot.cases.kpis import COUNTS, PERIOD_KINDS, RATES, SHARES, Figure, Period, PeriodError
from bot.domain.statuses import STATUS_CODES
from bot.staff.access import Permission
from bot.staff.casework import WeekCounts
from bot.staff.reports import department_report
from bot.web.auth import client_ip, require
from bot.web.charts import rate_meter, stacked_bars, top_series
from bot.web.console import lang_of, render
from bot.web.console_deps import Console, console
from bot.web.i18n import translate
from bot.web.periods import (
    department_name,
    drill_url,
    parse_period,
    period_name,
    period_params,
    report_download,
)

TOP_SERIES = 6  # categories / regions shown by name; the rest are summed as "other"


def weekly_chart(
    title: str,
    weeks: list[WeekCounts],
    attr: str,
    name: Callable[[str], str],
    lang: str,
) -> Markup:
    """A stacked bar chart of one breakdown of the weekly intake."""
    codes = sorted({code for w in weeks for code in getattr(w, attr)})
    named: dict[str, list[int]] = {}
    for code in codes:
        values = [int(getattr(w, attr).get(code, 0)) for w in weeks]
        label = name(code) if code else translate(lang, "common.none")
        if label in named:  # two codes with one name: add them up
            named[label] = [a + b for a, b in zip(named[label], values, strict=True)]
        else:
            named[label] = values
    series = top_series(
        named, len(weeks), keep=TOP_SERIES, other_label=translate(lang, "dash.other")
    )
    return stacked_bars(
        title,
        [w.week_start.strftime("%m-%d") for w in weeks],
        series,
        empty_text=translate(lang, "dash.no_data"),
    )


def _rate(lang: str, period: Period, figure: Figure) -> dict[str, Any]:
    """A rate's meter, definition and links to its cases and to those that missed it."""
    title = translate(lang, f"kpi.{figure.code}")
    return {
        "code": figure.code,
        "title": title,
        "help": translate(lang, f"kpi.{figure.code}_help"),
        "svg": rate_meter(
            title,
            figure.numerator or 0,
            figure.denominator,
            none_text=translate(lang, "dash.no_data"),
        ),
        "base": (
            translate(lang, "kpi.base", count=figure.denominator),
            drill_url(period, figure.code),
        ),
        "missed": (
            translate(lang, "kpi.missed", count=figure.denominator - (figure.numerator or 0)),
            drill_url(period, figure.code, "missed"),
        ),
    }


def _count(lang: str, period: Period, figure: Figure) -> dict[str, Any]:
    """A count (or a flagged share of the total) and the link to its cases."""
    if figure.numerator is None:
        return {
            "code": figure.code,
            "title": translate(lang, f"kpi.{figure.code}"),
            "n": figure.denominator,
            "help": translate(lang, f"kpi.{figure.code}_help"),
            "url": drill_url(period, figure.code),
        }
    share = f"{figure.value:.1%}" if figure.value is not None else "-"
    return {
        "code": figure.code,
        "title": translate(lang, f"kpi.{figure.code}"),
        "n": figure.numerator,
        "help": translate(lang, "kpi.share_help", share=share),
        "url": drill_url(period, figure.code, "good"),
    }


def _period(request: web.Request, deps: Console) -> tuple[Period, str]:
    """The period asked for, or the current month and why the request was not usable."""
    q = request.query
    try:
        return parse_period(
            deps.casework, q.get("period", ""), q.get("from", ""), q.get("to", "")
        ), ""
    except PeriodError as exc:
        return deps.casework.period(), str(exc)


async def dashboard(request: web.Request) -> web.Response:
    """The start page of the console."""
    member = require(request, Permission.CASE_READ)
    deps = console(request)
    lang = lang_of(request)
    period, period_error = _period(request, deps)
    data = await deps.casework.dashboard(member, period)
    report = await department_report(deps.casework, member, period)
    labels = deps.labels
    statuses = [(code, data.counts_by_status.get(code, 0)) for code in STATUS_CODES]
    statuses += [(c, n) for c, n in data.counts_by_status.items() if c not in STATUS_CODES]
    closed = {"rejected", "closed", "withdrawn"}
    charts = [
        weekly_chart(
            translate(lang, "dash.weekly_channel"),
            data.weekly,
            "by_channel",
            lambda c: labels.channel(c, lang),
            lang,
        ),
        weekly_chart(
            translate(lang, "dash.weekly_category"),
            data.weekly,
            "by_category",
            lambda c: labels.category(c, lang),
            lang,
        ),
        weekly_chart(
            translate(lang, "dash.weekly_region"),
            data.weekly,
            "by_region",
            lambda c: labels.region(c, lang),
            lang,
        ),
    ]
    chart_titles = ["dash.weekly_channel", "dash.weekly_category", "dash.weekly_region"]
    context = {
        "data": data,
        "statuses": statuses,
        "open_total": sum(n for c, n in statuses if c not in closed),
        "charts": list(zip(chart_titles, charts, strict=True)),
        "period": period,
        "period_kinds": PERIOD_KINDS,
        "period_name": period_name(period, lang),
        "period_error": period_error,
        "period_qs": urlencode(period_params(period)),
        "prev_qs": urlencode(period_params(period.shifted(-1))),
        "next_qs": urlencode(period_params(period.shifted(1))),
        "rates": [_rate(lang, period, data.figures[code]) for code in RATES],
        "counts": [_count(lang, period, data.figures[code]) for code in (*COUNTS, *SHARES)],
        "report": report,
        "department_name": lambda code: department_name(deps.labels, code, lang),
        "report_counts": COUNTS,
        "report_rates": RATES,
        "missing_years": "、".join(str(y) for y in data.missing_calendar_years),
        "scope_names": "、".join(labels.department(d, lang) for d in member.departments),
    }
    return render(request, "dashboard.html", context)


async def report_xlsx(request: web.Request) -> web.Response:
    """GET /staff/report.xlsx: the department report of the period (permission ``export``)."""
    member = require(request, Permission.EXPORT)
    deps = console(request)
    period, _ = _period(request, deps)
    return await report_download(
        deps.casework, deps.labels, member, period, lang_of(request), client_ip(request)
    )


def add_routes(app: web.Application) -> None:
    """The dashboard is the console's start page; its report downloads as XLSX."""
    app.router.add_get("/staff/", dashboard)
    app.router.add_get("/staff/report.xlsx", report_xlsx)
