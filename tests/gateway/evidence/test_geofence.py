"""Haversine distance to the home and the fence check."""

from __future__ import annotations

import pytest

from gateway.evidence.geofence import check_fence, distance_m

NORWICH = (52.6309, 1.2974)


def test_distance_of_one_degree_of_latitude() -> None:
    # One degree along a meridian on the mean-radius sphere: 2 * pi * R / 360.
    assert distance_m((52.0, 1.0), (53.0, 1.0)) == pytest.approx(111_195.08, abs=0.1)


def test_the_textbook_haversine_example() -> None:
    # Nashville BNA to Los Angeles LAX: 2887.2600 km on a sphere of radius 6372.8 km (the
    # classic haversine example), scaled to our mean radius.
    expected = 2_887_259.95 * 6_371_008.8 / 6_372_800
    assert distance_m((36.12, -86.67), (33.94, -118.40)) == pytest.approx(expected, abs=2)


def test_distance_is_zero_at_the_home_and_symmetric() -> None:
    assert distance_m(NORWICH, NORWICH) == 0
    a, b = (52.63, 1.29), (52.64, 1.31)
    assert distance_m(a, b) == pytest.approx(distance_m(b, a))


def test_inside_means_within_the_radius_inclusive() -> None:
    home = NORWICH
    fix = (52.6309 + 100 / 111_195.08, 1.2974)  # 100 m north
    inside = check_fence(fix, 12.0, home, 150)
    assert inside.within and inside.distance_m == pytest.approx(100, abs=0.01)
    assert inside.accuracy_m == 12.0
    assert not check_fence(fix, 12.0, home, 99.9).within
    assert check_fence(fix, 12.0, home, inside.distance_m).within
