"""Server-side SVG charts: escaped labels, stacking, "other" series, rates."""

from __future__ import annotations

import re

from bot.web.charts import Series, rate_meter, stacked_bars, top_series


def test_top_series_keeps_the_largest_and_sums_the_rest() -> None:
    named = {"a": [1, 1], "b": [5, 0], "c": [0, 3], "d": [0, 1]}
    series = top_series(named, 2, keep=2, other_label="其他")
    assert [s.label for s in series] == ["b", "c", "其他"]
    assert series[-1].values == (1, 2)


def test_stacked_bars_escape_labels_and_stack_values() -> None:
    svg = str(
        stacked_bars(
            "<b>title</b>",
            ["w1", "w2"],
            [Series("<script>x</script>", (2, 0)), Series("B&C", (1, 4))],
            empty_text="none",
        )
    )
    assert "<script>" not in svg and "&lt;script&gt;x&lt;/script&gt;" in svg
    assert "B&amp;C" in svg and "&lt;b&gt;title&lt;/b&gt;" in svg
    heights = [
        float(h)
        for h in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"', svg)
    ]
    assert len(heights) == 3  # zero values draw nothing
    assert heights[0] == heights[1] * 2  # 2 vs 1 in the first week
    assert "none" not in svg


def test_empty_chart_and_rate_without_data() -> None:
    assert "no data" in str(stacked_bars("t", ["w"], [], empty_text="no data"))
    meter = str(rate_meter("按期办结率", 0, 0, none_text="暂无数据"))
    assert "暂无数据" in meter and "0 / 0" in meter
    meter = str(rate_meter("满意率", 9, 10, none_text="-"))
    assert "90.0%" in meter and "9 / 10" in meter
