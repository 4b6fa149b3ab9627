"""A carer's day as one strip of inline SVG: visits, travel and unpaid gaps laid along the
clock, with an hour scale in London time. Geometry only; the page lists the same times and
minutes in words beside it, so the strip needs no tooltips or script."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from api.carer_days.schemas import CarerDayStay, TravelLeg
from api.times import LONDON

WIDTH = 640
STRIP_Y = 8
STRIP_HEIGHT = 28
HEIGHT = 64


@dataclass(frozen=True)
class Segment:
    kind: str  # "visit", "travel" or "unpaid": the template's fill and legend
    x: float
    width: float
    label: str


@dataclass(frozen=True)
class Tick:
    x: float
    text: str


@dataclass(frozen=True)
class DayStrip:
    width: int
    height: int
    strip_y: int
    strip_height: int
    segments: list[Segment]
    ticks: list[Tick]


def day_strip(stays: Sequence[CarerDayStay], legs: Sequence[TravelLeg]) -> DayStrip | None:
    moments = [m for s in stays for m in (s.check_in, s.check_out) if m is not None]
    if not moments:
        return None
    start = _floor_hour(min(moments))
    end = _floor_hour(max(moments)) + timedelta(hours=1)
    span = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        return round((moment - start).total_seconds() / span * WIDTH, 1)

    segments: list[Segment] = []
    for leg in legs:
        travel_end = leg.left_at + timedelta(minutes=leg.travel_minutes)
        if leg.travel_minutes:
            segments.append(
                Segment(
                    "travel",
                    x(leg.left_at),
                    x(travel_end) - x(leg.left_at),
                    f"travel {leg.travel_minutes} min",
                )
            )
        if leg.unpaid_gap_minutes:
            segments.append(
                Segment(
                    "unpaid",
                    x(travel_end),
                    x(leg.arrived_at) - x(travel_end),
                    f"unpaid gap {leg.unpaid_gap_minutes} min",
                )
            )
    for stay in stays:
        if stay.check_in is not None and stay.check_out is not None:
            segments.append(
                Segment(
                    "visit",
                    x(stay.check_in),
                    max(1.0, x(stay.check_out) - x(stay.check_in)),
                    f"visit {_london(stay.check_in)}-{_london(stay.check_out)}",
                )
            )
    hours = int(span // 3600)
    step = 1 if hours <= 8 else 2 if hours <= 16 else 3
    ticks = [
        Tick(x(start + timedelta(hours=h)), _london(start + timedelta(hours=h)))
        for h in range(0, hours + 1, step)
    ]
    return DayStrip(WIDTH, HEIGHT, STRIP_Y, STRIP_HEIGHT, segments, ticks)


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _london(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%H:%M")
