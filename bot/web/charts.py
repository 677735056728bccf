"""Dashboard charts as inline SVG, drawn on the server (no script, no CDN, CSP-clean).

Every text that goes into the markup is escaped; colours are presentation attributes
(allowed by the console's ``style-src 'self'``, unlike inline ``style``). Each bar
segment carries a ``<title>``, which browsers show as a tooltip without any script.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Okabe-Ito colour-blind safe palette, then neutral grey for "other".
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
OTHER_COLOUR = "#9aa3b2"


@dataclass(frozen=True)
class Series:
    """One stacked series: its legend label and one value per x position."""

    label: str
    values: tuple[int, ...]


def top_series(
    named: Mapping[str, Sequence[int]], length: int, *, keep: int, other_label: str
) -> list[Series]:
    """The ``keep`` largest series by total, the rest summed into one "other" series."""
    ranked = sorted(named.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    out = [Series(label, tuple(values)) for label, values in ranked[:keep]]
    rest = ranked[keep:]
    if rest:
        summed = tuple(sum(values[i] for _, values in rest) for i in range(length))
        out.append(Series(other_label, summed))
    return out


def _nice_max(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5 × 10^n)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def stacked_bars(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    empty_text: str,
    width: int = 480,
    height: int = 220,
) -> Markup:
    """A stacked bar chart with a legend; one bar per x label."""
    pad_left, pad_right, pad_top, pad_bottom = 36, 8, 12, 38
    plot_w = width - pad_left - pad_right
    plot_h = height - pad_top - pad_bottom
    n = max(1, len(x_labels))
    totals = [sum(s.values[i] for s in series) for i in range(len(x_labels))]
    top = _nice_max(max(totals, default=0))
    slot = plot_w / n
    bar_w = max(2.0, slot * 0.7)
    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in (0, top // 2 if top >= 2 else None, top):
        if tick is None:
            continue
        y = pad_top + plot_h - plot_h * tick / top
        parts.append(
            f'<line x1="{pad_left}" x2="{width - pad_right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d9dee7" stroke-width="1"/>'
            f'<text x="{pad_left - 4}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="12" fill="#5b6475">{tick}</text>'
        )
    for i, label in enumerate(x_labels):
        x = pad_left + slot * i + (slot - bar_w) / 2
        base = float(pad_top + plot_h)
        for index, one in enumerate(series):
            value = one.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            base -= h
            colour = _colour(index, one, series)
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(label)} · {escape(one.label)}: {value}'
                f"</title></rect>"
            )
        if n <= 16 and (i % 2 == 0 or n <= 8):
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - pad_bottom + 14}" '
                f'text-anchor="middle" font-size="12" fill="#5b6475">{escape(label)}</text>'
            )
        parts.append(
            f'<text class="total" x="{x + bar_w / 2:.1f}" y="{height - pad_bottom + 30}" '
            f'text-anchor="middle" font-size="11" fill="#5b6475">{totals[i] or ""}</text>'
        )
    if not any(totals):
        parts.append(
            f'<text x="{pad_left + plot_w / 2:.1f}" y="{pad_top + plot_h / 2:.1f}" '
            f'text-anchor="middle" font-size="13" fill="#5b6475">{escape(empty_text)}</text>'
        )
    parts.append("</svg>")
    legend = ['<ul class="legend">']
    for index, one in enumerate(series):
        colour = _colour(index, one, series)
        legend.append(
            f'<li><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" '
            f'fill="{colour}"/></svg> {escape(one.label)} <span class="muted">'
            f"{sum(one.values)}</span></li>"
        )
    legend.append("</ul>")
    return Markup("".join(parts) + "".join(legend))


def _colour(index: int, one: Series, series: Sequence[Series]) -> str:
    if index == len(series) - 1 and index >= len(PALETTE):
        return OTHER_COLOUR
    return PALETTE[index] if index < len(PALETTE) else OTHER_COLOUR


def rate_meter(title: str, numerator: int, denominator: int, *, none_text: str) -> Markup:
    """A horizontal meter for a rate, with the percentage and numerator/denominator."""
    width, height = 260, 28
    parts = [
        f'<svg class="meter" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="0" y="6" width="{width}" height="16" rx="3" fill="#eef1f5"/>',
    ]
    if denominator > 0:
        rate = numerator / denominator
        colour = "#1b7f3b" if rate >= 0.9 else "#b26a00" if rate >= 0.7 else "#b3261e"
        parts.append(
            f'<rect x="0" y="6" width="{width * rate:.1f}" height="16" rx="3" fill="{colour}">'
            f"<title>{escape(title)}: {numerator}/{denominator}</title></rect>"
        )
        figure = f"{rate * 100:.1f}%"
    else:
        figure = none_text
    parts.append("</svg>")
    return Markup(
        '<div class="rate"><div class="rate-figure">'
        + str(escape(figure))
        + f'</div><div class="rate-fraction muted">{numerator} / {denominator}</div>'
        + "".join(parts)
        + "</div>"
    )
