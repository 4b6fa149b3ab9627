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


# Line charts: one line per provider over weeks, with the target as a dashed line. Lines
# differ by colour and by dash pattern, and each ends with its label, so none is told apart
# by colour alone; the table under the chart has every number.
LINE_WIDTH = 480
LINE_HEIGHT = 240
PLOT_LEFT = 56
PLOT_RIGHT = 16
PLOT_TOP = 12
PLOT_BOTTOM = 34
LINE_STYLES = (
    ("#1f5fa8", ""),
    ("#b35806", "7 4"),
    ("#1b7837", "2 3"),
    ("#762a83", "10 3 2 3"),
    ("#a51d16", "4 2"),
    ("#3d4651", "1 4"),
)


@dataclass(frozen=True)
class LinePoint:
    x: float
    y: float
    text: str  # the value as read, for the point's tooltip


@dataclass(frozen=True)
class Line:
    name: str
    colour: str
    dash: str
    points: list[LinePoint]

    @property
    def path(self) -> str:
        """SVG path data; a week with no figure breaks the line."""
        parts, pen_down = [], False
        for point in self.points:
            parts.append(f"{'L' if pen_down else 'M'} {point.x} {point.y}")
            pen_down = True
        return " ".join(parts)


@dataclass(frozen=True)
class LineChart:
    title: str
    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    x_labels: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    lines: list[Line]
    target_y: float | None
    target_text: str


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    target: float | None = None,
    target_text: str = "",
) -> LineChart:
    """Shares (0 to 1) per week: `series` are (name, one value or None per x label)."""
    right = LINE_WIDTH - PLOT_RIGHT
    bottom = LINE_HEIGHT - PLOT_BOTTOM
    span = max(len(x_labels) - 1, 1)

    def x_of(index: int) -> float:
        if len(x_labels) == 1:  # one week: in the middle, not against the axis
            return round((PLOT_LEFT + right) / 2, 1)
        return round(PLOT_LEFT + (right - PLOT_LEFT) * index / span, 1)

    def y_of(value: float) -> float:
        return round(bottom - (bottom - PLOT_TOP) * max(0.0, min(value, 1.0)), 1)

    lines = []
    for number, (name, values) in enumerate(series):
        colour, dash = LINE_STYLES[number % len(LINE_STYLES)]
        points = [
            LinePoint(x_of(i), y_of(v), share_text(v))
            for i, v in enumerate(values)
            if v is not None
        ]
        lines.append(Line(name, colour, dash, points))
    # Label every week when they fit, else every other (a phone shows the chart smaller).
    step = 1 if len(x_labels) <= 9 else 2
    return LineChart(
        title=title,
        width=LINE_WIDTH,
        height=LINE_HEIGHT,
        left=PLOT_LEFT,
        right=right,
        top=PLOT_TOP,
        bottom=bottom,
        x_labels=[(x_of(i), label) for i, label in enumerate(x_labels) if i % step == 0],
        y_ticks=[(y_of(v / 4), f"{v * 25} %") for v in range(5)],
        lines=lines,
        target_y=y_of(target) if target is not None else None,
        target_text=target_text,
    )
