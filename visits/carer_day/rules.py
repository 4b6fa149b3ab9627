"""A carer's day from their stays: contact time, travel between visits, unpaid gaps.

Pure functions over the stays the visit builder made (corrected times where a correction
counts). The rules, in docs/carer-day.md's words:

1. A carer's day is their stays whose start (check-in, else check-out) falls on that London
   day. A stay across midnight belongs to the day it started, whole.
2. Contact time is the time covered by the day's complete stays (check-in and check-out); where
   two of them overlap (a carer in two homes at once, flagged as an anomaly) it counts once.
3. A leg is the way from one complete stay to the next: from the check-out to the next check-in.
   Its straight-line distance is between the two homes; its implied speed is that distance over
   the gap.
4. A gap up to `max_travel_gap` (60 minutes) is all travel: the carer is on their way or waiting
   for the next call, which is working time. A longer gap is a break that still holds the
   journey: travel is the straight-line distance at `travel_speed_kmh` (20 km/h), rounded up to
   the minute, at most the gap (and `max_travel_gap` when either home has no coordinates); the
   rest is an unpaid gap.
5. The first leg of a day may come from the previous day's last stay, when the carer went
   straight on across midnight (a gap up to `max_travel_gap`); otherwise the journey to the first
   visit is the commute from home, which is not working time, and is not counted.

All durations are real elapsed time (aware datetimes), so the 23- and 25-hour days of the clock
changes need nothing special.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from visits.anomalies import distance_m
from visits.days import london_date

ZERO = timedelta(0)


@dataclass(frozen=True)
class DayRules:
    max_travel_gap: timedelta = timedelta(minutes=60)
    travel_speed_kmh: float = 20.0


@dataclass(frozen=True)
class CarerStay:
    """One carer's stay at one home, as the visit builder stored it."""

    visit_id: UUID
    carer_id: str
    service_user_id: str | None
    check_in: datetime | None
    check_out: datetime | None
    lat: float | None
    lon: float | None
    verification: str
    service_user_name: str | None = None

    def __post_init__(self) -> None:
        # Arithmetic between two datetimes of one zone is wall-clock arithmetic in Python: a
        # stay from 01:40 BST to 01:20 GMT would last minus 20 minutes. In UTC it lasts 40.
        for name in ("check_in", "check_out"):
            moment = getattr(self, name)
            if moment is not None:
                object.__setattr__(self, name, moment.astimezone(UTC))

    @property
    def start(self) -> datetime:
        moment = self.check_in or self.check_out
        assert moment is not None, "a stay has a check-in or a check-out"
        return moment

    @property
    def complete(self) -> bool:
        return self.check_in is not None and self.check_out is not None

    @property
    def minutes(self) -> float | None:
        if self.check_in is None or self.check_out is None:
            return None
        return (self.check_out - self.check_in).total_seconds() / 60


@dataclass(frozen=True)
class Leg:
    """From one stay's check-out to the next stay's check-in."""

    from_stay: CarerStay
    to_stay: CarerStay
    gap: timedelta
    travel: timedelta
    unpaid: timedelta
    distance_km: float | None

    @property
    def left_at(self) -> datetime:
        assert self.from_stay.check_out is not None
        return self.from_stay.check_out

    @property
    def arrived_at(self) -> datetime:
        assert self.to_stay.check_in is not None
        return self.to_stay.check_in

    @property
    def speed_kmh(self) -> float | None:
        """The straight-line speed the gap implies (None without coordinates or a gap)."""
        if self.distance_km is None or self.gap <= ZERO:
            return None
        return self.distance_km / (self.gap.total_seconds() / 3600)


@dataclass(frozen=True)
class CarerDay:
    carer_id: str
    day: date
    stays: tuple[CarerStay, ...]
    legs: tuple[Leg, ...]
    contact: timedelta

    @property
    def visits(self) -> int:
        return len(self.stays)

    @property
    def open_stays(self) -> int:
        return sum(1 for s in self.stays if not s.complete)

    @property
    def travel(self) -> timedelta:
        return sum((leg.travel for leg in self.legs), ZERO)

    @property
    def unpaid(self) -> timedelta:
        return sum((leg.unpaid for leg in self.legs), ZERO)

    @property
    def distance_km(self) -> float:
        return sum(leg.distance_km or 0.0 for leg in self.legs)

    @property
    def first_check_in(self) -> datetime | None:
        starts = [s.check_in for s in self.stays if s.check_in is not None]
        return min(starts) if starts else None

    @property
    def last_check_out(self) -> datetime | None:
        ends = [s.check_out for s in self.stays if s.check_out is not None]
        return max(ends) if ends else None


def carer_days(stays: Sequence[CarerStay], rules: DayRules) -> list[CarerDay]:
    """Every day of every carer among `stays` (stays of the day before the first wanted day are
    needed only for rule 5; the caller drops days it did not ask for)."""
    by_carer: dict[str, list[CarerStay]] = {}
    for stay in stays:
        by_carer.setdefault(stay.carer_id, []).append(stay)
    days: list[CarerDay] = []
    for carer_id, own in sorted(by_carer.items()):
        own.sort(key=lambda s: (s.start, str(s.visit_id)))
        complete = [s for s in own if s.complete]
        legs = [_leg(a, b, rules) for a, b in itertools.pairwise(complete)]
        for day, group in itertools.groupby(own, key=lambda s: london_date(s.start)):
            day_stays = tuple(group)
            day_legs = tuple(
                leg
                for leg in legs
                if london_date(leg.to_stay.start) == day
                and (london_date(leg.from_stay.start) == day or leg.gap <= rules.max_travel_gap)
            )
            days.append(CarerDay(carer_id, day, day_stays, day_legs, _covered(day_stays)))
    return days


def _leg(a: CarerStay, b: CarerStay, rules: DayRules) -> Leg:
    assert a.check_out is not None and b.check_in is not None
    gap = b.check_in - a.check_out
    distance = None
    if None not in (a.lat, a.lon, b.lat, b.lon) and a.service_user_id != b.service_user_id:
        distance = distance_m(a.lat, a.lon, b.lat, b.lon) / 1000  # type: ignore[arg-type]
    elif a.service_user_id == b.service_user_id and a.service_user_id is not None:
        distance = 0.0
    if gap <= ZERO:
        travel = ZERO
    elif gap <= rules.max_travel_gap:
        travel = gap
    elif distance is None:
        travel = rules.max_travel_gap
    else:
        minutes = math.ceil(distance / rules.travel_speed_kmh * 60)
        travel = min(gap, timedelta(minutes=minutes))
    return Leg(a, b, gap, travel, max(ZERO, gap - travel), distance)


def _covered(stays: Sequence[CarerStay]) -> timedelta:
    """The time covered by the complete stays, overlaps counted once."""
    spans = sorted((s.check_in, s.check_out) for s in stays if s.complete)
    total = ZERO
    current_start: datetime | None = None
    current_end: datetime | None = None
    for start, end in spans:
        assert start is not None and end is not None
        if current_end is None or start > current_end:
            if current_start is not None and current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None and current_end is not None:
        total += current_end - current_start
    return total
