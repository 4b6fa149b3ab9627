"""The geometry behind the portal's inline SVG: the evidence map and the bar charts."""

from __future__ import annotations

import pytest

from api.portal.charts import Series, bar_chart, share_text
from api.portal.evidence_map import SIZE, Fix, evidence_map, metres_label, nice_length, offset_m


def fix(lat: float, lon: float, accuracy_m: float | None = 10.0) -> Fix:
    return Fix("Check-in", "check_in", lat, lon, accuracy_m, None, None)


@pytest.mark.parametrize(
    ("target", "expected"), [(0.7, 0.5), (1, 1), (74, 50), (150, 100), (260, 200), (9_999, 5_000)]
)
def test_scale_bars_have_readable_lengths(target: float, expected: float) -> None:
    assert nice_length(target) == expected


def test_metres_read_as_metres_or_kilometres() -> None:
    assert metres_label(50) == "50 m"
    assert metres_label(2000) == "2 km"


def test_offsets_are_metres_east_and_north() -> None:
    east, north = offset_m(52.0, 1.0, 52.001, 1.0)
    assert east == pytest.approx(0) and north == pytest.approx(111.3, abs=0.1)
    east, _ = offset_m(60.0, 0.0, 60.0, 0.001)
    # A degree of longitude at 60° north is half as long as at the equator.
    assert east == pytest.approx(55.7, abs=0.1)


def test_the_fence_fits_the_drawing_when_the_fixes_are_inside_it() -> None:
    drawing = evidence_map(52.0, 1.0, 150.0, [fix(52.0001, 1.0)])
    assert drawing.centre == SIZE / 2
    # The fence reaches the drawing's edge less a margin and a tenth.
    assert drawing.fence_r == pytest.approx((SIZE / 2 - 28) / 1.1, abs=0.1)
    [placed] = drawing.fixes
    assert placed.x == pytest.approx(drawing.centre)
    assert placed.y < drawing.centre  # north is up
    assert placed.distance_m == pytest.approx(11.1, abs=0.1)


def test_a_fix_far_outside_the_fence_shrinks_the_fence_to_fit_both() -> None:
    far = fix(52.0, 1.0 + 0.01, accuracy_m=50.0)  # about 686 m east
    drawing = evidence_map(52.0, 1.0, 100.0, [far])
    [placed] = drawing.fixes
    assert placed.x + placed.accuracy_r <= SIZE - 28 + 0.5
    assert drawing.fence_r < 25
    assert drawing.scale_bar_label in {"200 m", "500 m"}
    px_per_m = drawing.fence_r / 100.0
    assert drawing.scale_bar_px == pytest.approx(
        float(drawing.scale_bar_label.split()[0]) * px_per_m, abs=0.2
    )


def test_bars_scale_to_the_maximum_and_missing_values_draw_nothing() -> None:
    a, b = Series("A", "chart-a"), Series("B", "chart-b")
    chart = bar_chart(
        "t",
        [a, b],
        [("one", [(1.0, "100 %"), (0.5, "50 %")]), ("two", [(None, share_text(None)), (0.25, "")])],
        maximum=1.0,
    )
    [first, second] = chart.rows
    full = first.bars[0].width
    assert first.bars[1].width == pytest.approx(full / 2)
    assert second.bars[0].width == 0 and second.bars[0].text == "-"
    assert second.bars[1].width == pytest.approx(full / 4)
    assert second.bars[0].y > first.bars[1].y  # rows do not overlap
    counts = bar_chart("n", [a], [("x", [(2.0, "2")]), ("y", [(8.0, "8")])])
    assert counts.rows[0].bars[0].width == pytest.approx(counts.rows[1].bars[0].width / 4)


def test_a_line_chart_plots_shares_week_by_week_with_its_target() -> None:
    from api.portal.charts import LINE_HEIGHT, PLOT_BOTTOM, PLOT_TOP, line_chart

    chart = line_chart(
        "Visits started within 15 minutes",
        ["2 Mar", "9 Mar", "16 Mar"],
        [("Test Care Ltd", [0.5, None, 1.0]), ("Other Care", [0.0, 0.25, 0.75])],
        target=0.9,
        target_text="at least 90 %",
    )
    bottom, top = LINE_HEIGHT - PLOT_BOTTOM, PLOT_TOP
    first, second = chart.lines
    # A week without a figure has no point: the line joins the weeks that have one.
    assert [p.text for p in first.points] == ["50 %", "100 %"]
    assert first.points[1].y == top and second.points[0].y == bottom
    assert first.points[0].y == (bottom + top) / 2
    assert chart.target_y is not None and top < chart.target_y < first.points[0].y
    # Lines differ by dash as well as colour, so none is told apart by colour alone.
    assert first.dash != second.dash and first.colour != second.colour
    assert first.path.startswith("M ") and " L " in first.path


def test_one_week_sits_in_the_middle() -> None:
    from api.portal.charts import line_chart

    chart = line_chart("x", ["2 Mar"], [("A", [0.5])])
    [point] = chart.lines[0].points
    assert point.x == (chart.left + chart.right) / 2


def test_weeks_add_up_days_and_keep_empty_weeks() -> None:
    from datetime import date
    from types import SimpleNamespace

    from visits.kpis import weekly

    def day(d: date, planned: int, on_time: int, missed: int) -> SimpleNamespace:
        return SimpleNamespace(
            london_day=d,
            planned=planned,
            delivered=planned - missed,
            on_time_15=on_time,
            missed=missed,
            unplanned=0,
            planned_minutes=30 * planned,
            delivered_planned_minutes=30 * (planned - missed),
            tag_or_code_verified=planned - missed,
        )

    weeks = weekly(
        [day(date(2026, 3, 2), 4, 2, 1), day(date(2026, 3, 8), 4, 4, 0)],
        date(2026, 3, 2),
        date(2026, 3, 22),
    )
    assert [w.week_start for w in weeks] == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    assert (weeks[0].planned, weeks[0].on_time_15_share, weeks[0].missed_share) == (8, 0.75, 0.125)
    assert weeks[1].planned == 0 and weeks[1].on_time_15_share is None


def test_red_amber_green_against_a_contracts_targets() -> None:
    from reconciliation.contract import ContractError
    from reconciliation.kpi_targets import DEFAULT_TARGETS, parse_targets, targets_of

    targets = targets_of("[kpi_targets]\non_time_15 = { green = 0.8, amber = 0.6 }\n")
    on_time, missed = targets["on_time_15"], targets["missed"]
    assert on_time.from_contract and not missed.from_contract
    assert [on_time.rag(v) for v in (0.8, 0.7, 0.59, None)] == ["green", "amber", "red", None]
    # Fewer missed visits is better.
    assert [missed.rag(v) for v in (0.0, 0.02, 0.05)] == ["green", "amber", "red"]
    assert targets_of(None) == DEFAULT_TARGETS
    for wrong in ({"speed": {"green": 1, "amber": 1}}, {"missed": {"green": 0.5, "amber": 0.1}}):
        with pytest.raises(ContractError):
            parse_targets(wrong)


def test_plain_words_for_durations_money_and_messages() -> None:
    from decimal import Decimal

    from api.portal.pages import money
    from api.portal.wording import duration, minutes, plain

    assert duration(112605) == "1 day 7 h 16 min"
    assert duration(95) == "1 min 35 s" and duration(6720) == "1 h 52 min"
    assert minutes(0) == "0 min" and minutes(125) == "2 h 5 min"
    assert money(Decimal("1234.5")) == "£1,234.50" and money(Decimal("-12.6")) == "-£12.60"
    assert plain("`to` must be on or after `from`") == "To must be on or after from"


def test_cells_a_spreadsheet_would_run_are_neutralised() -> None:
    from decimal import Decimal

    from core.csv_safe import csv_bytes, neutralise

    assert [neutralise(v) for v in ("=1+1", "+44 1603", "-x", "@SUM", "\tx", "\rx")] == [
        "'=1+1",
        "'+44 1603",
        "'-x",
        "'@SUM",
        "'\tx",
        "'\rx",
    ]
    # Numbers stay numbers (docs/csv.md), as text too.
    assert neutralise(Decimal("-12.60")) == Decimal("-12.60") and neutralise("-12.60") == "-12.60"
    assert neutralise("Bea") == "Bea"
    assert csv_bytes(["A"], [["=cmd"]]) == "\ufeffA\r\n'=cmd\r\n".encode()
