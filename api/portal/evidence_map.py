"""The evidence map of one visit: check-in and check-out positions against the home and its
geofence, as plain geometry the template draws as inline SVG (no tiles, no external assets).

Positions are projected onto a local flat plane in metres around the home (equirectangular: at
the scale of a geofence the error is far below any GPS accuracy), then scaled so the fence and
every fix with its accuracy circle fit the drawing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SIZE = 360  # the drawing is SIZE x SIZE user units
MARGIN = 28  # room for the scale bar and the north arrow
METRES_PER_DEGREE_LAT = 111_320.0


@dataclass(frozen=True)
class Fix:
    """One event's GPS fix, as stored with the evidence."""

    label: str  # "Check-in" / "Check-out"
    kind: str  # check_in | check_out: the template colours by it
    lat: float
    lon: float
    accuracy_m: float | None
    distance_m: float | None  # as ingest measured it, when it did
    within_fence: bool | None


@dataclass(frozen=True)
class PlacedFix:
    fix: Fix
    x: float
    y: float
    accuracy_r: float  # accuracy circle radius in user units (0 when unknown)
    distance_m: float


@dataclass(frozen=True)
class EvidenceMap:
    size: int
    centre: float
    fence_r: float
    geofence_m: float
    fixes: list[PlacedFix]
    scale_bar_px: float
    scale_bar_label: str
    scale_bar_x: float
    scale_bar_y: float


def offset_m(home_lat: float, home_lon: float, lat: float, lon: float) -> tuple[float, float]:
    """East and north of the home in metres."""
    east = (lon - home_lon) * METRES_PER_DEGREE_LAT * math.cos(math.radians(home_lat))
    north = (lat - home_lat) * METRES_PER_DEGREE_LAT
    return east, north


def nice_length(target_m: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above `target_m` (a readable scale bar)."""
    if target_m <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(target_m))
    for step in (5, 2, 1):
        if step * power <= target_m:
            return float(step * power)
    return float(power)


def metres_label(metres: float) -> str:
    if metres >= 1000:
        km = metres / 1000
        return f"{km:g} km"
    return f"{metres:g} m"


def evidence_map(
    home_lat: float, home_lon: float, geofence_m: float, fixes: list[Fix]
) -> EvidenceMap:
    offsets = [offset_m(home_lat, home_lon, f.lat, f.lon) for f in fixes]
    # The drawing reaches the farthest thing to show: the fence, or a fix plus its accuracy.
    reach = geofence_m
    for (east, north), fix in zip(offsets, fixes, strict=True):
        reach = max(reach, math.hypot(east, north) + (fix.accuracy_m or 0.0))
    reach *= 1.1
    centre = SIZE / 2
    px_per_m = (centre - MARGIN) / reach
    placed = [
        PlacedFix(
            fix=fix,
            x=round(centre + east * px_per_m, 1),
            # SVG y grows downwards; north is up.
            y=round(centre - north * px_per_m, 1),
            accuracy_r=round((fix.accuracy_m or 0.0) * px_per_m, 1),
            distance_m=fix.distance_m if fix.distance_m is not None else math.hypot(east, north),
        )
        for (east, north), fix in zip(offsets, fixes, strict=True)
    ]
    bar_m = nice_length(reach / 2)
    return EvidenceMap(
        size=SIZE,
        centre=centre,
        fence_r=round(geofence_m * px_per_m, 1),
        geofence_m=geofence_m,
        fixes=placed,
        scale_bar_px=round(bar_m * px_per_m, 1),
        scale_bar_label=metres_label(bar_m),
        scale_bar_x=12,
        scale_bar_y=SIZE - 12,
    )
