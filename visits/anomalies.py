"""Anomaly rules. Each returns reasons to flag a visit; none changes a visit's evidence.

Visit rules look at one visit and its home. Carer and handset rules look across homes, at every
stay of a carer or a handset around the days being rebuilt."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from visits.model import Anomaly, EvidenceEvent, Home, Visit

CARER_CODES = ("carer_in_two_homes", "impossible_travel")
HANDSET_CODES = ("handset_shared",)
VISIT_CODES = (
    "device_clock_skew",
    "gps_outside_geofence",
    "tag_far_from_home",
    "far_shorter_than_planned",
    "carer_missing",
)


@dataclass(frozen=True)
class VisitRules:
    clock_skew: timedelta
    tag_far_m: float
    short_fraction: float


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def _gps_distance(event: EvidenceEvent, home: Home | None) -> float | None:
    # Ingest records the distance when it checks the fence; measure it here when it did not.
    if event.gps_distance_m is not None:
        return event.gps_distance_m
    if event.gps_lat is None or event.gps_lon is None or home is None:
        return None
    if home.lat is None or home.lon is None:
        return None
    return distance_m(event.gps_lat, event.gps_lon, home.lat, home.lon)


def visit_anomalies(visit: Visit, home: Home | None, rules: VisitRules) -> list[Anomaly]:
    found: list[Anomaly] = []
    for stay in visit.stays:
        for event in stay.events:
            skew = abs(event.received_at - event.device_time)
            # An event held on the handset while offline arrives late by design (ingest marks
            # it); only a clock that disagrees with an on-line receive time is suspect.
            if skew > rules.clock_skew and not event.late_arriving:
                found.append(
                    Anomaly(
                        "device_clock_skew",
                        f"{event.event_type} device time is {skew.total_seconds():.0f} s from "
                        "its receive time",
                        event.carer_id,
                        event.event_id,
                    )
                )
            distance = _gps_distance(event, home)
            outside = event.gps_within_fence is False or (
                event.gps_within_fence is None
                and distance is not None
                and home is not None
                and distance > home.geofence_m
            )
            if outside and distance is not None:
                found.append(
                    Anomaly(
                        "gps_outside_geofence",
                        f"{event.event_type} GPS {distance:.0f} m from the home",
                        event.carer_id,
                        event.event_id,
                    )
                )
            elif outside:
                found.append(
                    Anomaly(
                        "gps_outside_geofence",
                        f"{event.event_type} GPS outside the geofence",
                        event.carer_id,
                        event.event_id,
                    )
                )
            if event.tag_uid is not None and distance is not None and distance > rules.tag_far_m:
                found.append(
                    Anomaly(
                        "tag_far_from_home",
                        f"tag {event.tag_uid} tapped {distance:.0f} m from its home",
                        event.carer_id,
                        event.event_id,
                    )
                )
    plan = visit.planned
    minutes = visit.minutes
    if (
        plan is not None
        and minutes is not None
        and minutes < plan.planned_minutes * rules.short_fraction
    ):
        found.append(
            Anomaly("far_shorter_than_planned", f"{minutes} of {plan.planned_minutes} minutes")
        )
    if plan is not None and visit.stays and len(visit.stays) < plan.carers_required:
        found.append(
            Anomaly(
                "carer_missing",
                f"{len(visit.stays)} of {plan.carers_required} carers evidenced",
            )
        )
    return found


@dataclass(frozen=True)
class PlacedStay:
    """A stay as stored, with where its home is: what the cross-home rules compare."""

    visit_id: UUID
    carer_id: str
    device_id: str | None
    home_key: str
    lat: float | None
    lon: float | None
    start: datetime | None
    end: datetime | None

    @property
    def first(self) -> datetime:
        moment = self.start or self.end
        assert moment is not None
        return moment

    @property
    def last(self) -> datetime:
        moment = self.end or self.start
        assert moment is not None
        return moment


def carer_anomalies(
    stays: Sequence[PlacedStay], *, max_speed_kmh: float
) -> list[tuple[UUID, Anomaly]]:
    """One carer in two homes at once; travel between consecutive homes faster than
    `max_speed_kmh` in a straight line."""
    found: list[tuple[UUID, Anomaly]] = []
    for carer_id, own in _by(stays, lambda s: s.carer_id).items():
        own.sort(key=lambda s: (s.first, str(s.visit_id)))
        for i, a in enumerate(own):
            for b in own[i + 1 :]:
                if b.first >= a.last:
                    break
                if a.home_key != b.home_key:
                    for this, other in ((a, b), (b, a)):
                        found.append(
                            (
                                this.visit_id,
                                Anomaly(
                                    "carer_in_two_homes",
                                    f"also at home {other.home_key or '(none)'} from "
                                    f"{other.first.isoformat()}",
                                    carer_id,
                                ),
                            )
                        )
        for a, b in itertools.pairwise(own):
            if a.home_key == b.home_key or None in (a.lat, a.lon, b.lat, b.lon):
                continue
            gap_s = (b.first - a.last).total_seconds()
            if gap_s <= 0:
                continue  # overlapping stays are flagged above
            metres = distance_m(a.lat, a.lon, b.lat, b.lon)  # type: ignore[arg-type]
            speed_kmh = metres / gap_s * 3.6
            if speed_kmh > max_speed_kmh:
                found.append(
                    (
                        b.visit_id,
                        Anomaly(
                            "impossible_travel",
                            f"{metres / 1000:.1f} km from the previous home in "
                            f"{gap_s / 60:.0f} min ({speed_kmh:.0f} km/h)",
                            carer_id,
                        ),
                    )
                )
    return found


def handset_anomalies(
    stays: Sequence[PlacedStay], *, window: timedelta
) -> list[tuple[UUID, Anomaly]]:
    """One handset checking in two carers at overlapping times or within `window` of each
    other (buddy punching): both stays are flagged."""
    found: list[tuple[UUID, Anomaly]] = []
    with_device = [s for s in stays if s.device_id is not None]
    for device_id, own in _by(with_device, lambda s: s.device_id or "").items():
        own.sort(key=lambda s: (s.first, str(s.visit_id)))
        for i, a in enumerate(own):
            for b in own[i + 1 :]:
                if b.first > a.last + window:
                    break
                if a.carer_id == b.carer_id:
                    continue
                for this, other in ((a, b), (b, a)):
                    found.append(
                        (
                            this.visit_id,
                            Anomaly(
                                "handset_shared",
                                f"handset {device_id} also checked in carer {other.carer_id} "
                                f"at {other.first.isoformat()}",
                                this.carer_id,
                            ),
                        )
                    )
    return found


def _by(
    items: Iterable[PlacedStay], key: Callable[[PlacedStay], str]
) -> dict[str, list[PlacedStay]]:
    groups: dict[str, list[PlacedStay]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups
