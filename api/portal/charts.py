"""Horizontal bar charts as plain geometry for inline SVG: one row per provider and lot, one or
more bars per row (a series each). The same numbers are always shown in a table beside the
chart, so the chart needs no tooltips or script."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640
LABEL_WIDTH = 210
VALUE_WIDTH = 90
BAR_HEIGHT = 14
BAR_GAP = 3
ROW_GAP = 12
TOP = 8


@dataclass(frozen=True)
class Series:
    name: str
    css_class: str  # the template colours bars by class: charts-a, charts-b, ...


@dataclass(frozen=True)
class Bar:
    series: Series
    x: float
    y: float
    width: float
    height: float
    text: str  # the value as read: "87 %", "1,230 min", "3"
    text_x: float


@dataclass(frozen=True)
class Row:
    label: str
    label_y: float
    bars: list[Bar]


@dataclass(frozen=True)
class BarChart:
    title: str
    width: int
    height: float
    label_width: int
    series: list[Series]
    rows: list[Row]
    axis_x: float


def bar_chart(
    title: str,
    series: list[Series],
    rows: Sequence[tuple[str, Sequence[tuple[float | None, str]]]],
    *,
    maximum: float | None = None,
) -> BarChart:
    """`rows` are (label, [(value, text) per series]); a None value draws no bar (no data) but
    keeps its text. Bars scale to `maximum` (1.0 for shares) or to the largest value."""
    values = [v for _, cells in rows for v, _ in cells if v is not None]
    top = maximum if maximum is not None else max(values, default=0.0)
    plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    row_height = len(series) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
    built: list[Row] = []
    y = float(TOP)
    for label, cells in rows:
        bars = []
        for index, (value, text) in enumerate(cells):
            width = plot * min(value, top) / top if value is not None and top > 0 else 0.0
            bar_y = y + index * (BAR_HEIGHT + BAR_GAP)
            bars.append(
                Bar(
                    series=series[index],
                    x=LABEL_WIDTH,
                    y=bar_y,
                    width=round(width, 1),
                    height=BAR_HEIGHT,
                    text=text,
                    text_x=round(LABEL_WIDTH + width + 4, 1),
                )
            )
        built.append(Row(label=label, label_y=round(y + row_height / 2 + 4, 1), bars=bars))
        y += row_height + ROW_GAP
    return BarChart(
        title=title,
        width=WIDTH,
        height=max(y, TOP + row_height) + TOP - ROW_GAP + 4,
        label_width=LABEL_WIDTH,
        series=series,
        rows=built,
        axis_x=LABEL_WIDTH,
    )


def share_text(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f} %"
