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
