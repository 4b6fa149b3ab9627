"""Distance from a GPS fix to the home, and whether the fix falls inside the home's geofence.

Outside the fence is recorded, never rejected: a fix can be off by its accuracy, and a council
weighs the distance and accuracy together when it disputes a visit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


@dataclass(frozen=True)
class FenceCheck:
    distance_m: float
    accuracy_m: float
    within: bool


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (haversine) distance in metres between two (lat, lon) points in degrees."""
    lat1, lon1 = map(math.radians, a)
    lat2, lon2 = map(math.radians, b)
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def check_fence(
    fix: tuple[float, float], accuracy_m: float, home: tuple[float, float], radius_m: float
) -> FenceCheck:
    distance = distance_m(fix, home)
    return FenceCheck(distance_m=distance, accuracy_m=accuracy_m, within=distance <= radius_m)
