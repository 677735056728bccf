"""GET /staff/: the dashboard — counts, deadline lists, weekly intake charts and rates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from markupsafe import Markup

from bot.dialogs.texts import STATUS_CODES
from bot.staff.access import Permission
from bot.staff.casework import Rate, WeekCounts
from bot.web.auth import require
from bot.web.charts import rate_meter, stacked_bars, top_series
from bot.web.console import lang_of, render
from bot.web.console_deps import console
from bot.web.i18n import translate

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


def _rate(lang: str, key: str, rate: Rate) -> dict[str, Any]:
    title = translate(lang, key)
    return {
        "title": title,
        "help": translate(lang, key + "_help"),
        "svg": rate_meter(
            title, rate.numerator, rate.denominator, none_text=translate(lang, "dash.no_data")
        ),
    }


async def dashboard(request: web.Request) -> web.Response:
    """The start page of the console."""
    member = require(request, Permission.CASE_READ)
    deps = console(request)
    lang = lang_of(request)
    data = await deps.casework.dashboard(member)
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
        "rates": [
            _rate(lang, "dash.on_time", data.on_time),
            _rate(lang, "dash.satisfaction", data.satisfaction),
            _rate(lang, "dash.first_contact", data.first_contact),
        ],
        "missing_years": "、".join(str(y) for y in data.missing_calendar_years),
        "scope_names": "、".join(labels.department(d, lang) for d in member.departments),
    }
    return render(request, "dashboard.html", context)


def add_routes(app: web.Application) -> None:
    """The dashboard is the console's start page."""
    app.router.add_get("/staff/", dashboard)
