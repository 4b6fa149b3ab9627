"""From a package's weekly pattern to planned visits, written as the council's schedule.csv.

A package's planned visits are imported through the same path as the case system's schedule
(visits.schedule.import_schedule), so the visits built from evidence, alerts, KPIs and the
reconciliation treat them exactly as they treat an imported schedule. Each planned visit's
`visit_ref` is `SR<request id>-<YYYYMMDD>-<HHMM>` (London date and time), so the same slot on
the same day is the same planned visit in every version of the package.

Visits are planned a horizon ahead (ECM_REQUESTS_PLAN_HORIZON_DAYS) and rolled forward by
`ecm requests run`. Only visits that start after the moment of planning are written: accepting
at 14:00 a package that starts today does not create this morning's visits as missed. A change
from a date rewrites the planned visits from then on: the new pattern's visits are written
(created, or changed where the same slot now lasts longer or needs more carers) and the old
pattern's visits that are no longer in it are cancelled. Every write is a new version of the
planned visit, never an overwrite.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from commissioning.model import LONDON, PackageVersion, VisitSlot
from core import csv_safe

SCHEDULE_HEADER = (
    "visit_ref",
    "service_user_ref",
    "provider_ref",
    "planned_start",
    "planned_minutes",
    "carers_required",
    "service_type",
    "status",
)


@dataclass(frozen=True)
class PlannedSlot:
    visit_ref: str
    planned_start: datetime
    minutes: int
    carers: int
    service_type: str


def visit_ref(request_id: int, day: date, slot: VisitSlot) -> str:
    return f"SR{request_id}-{day:%Y%m%d}-{slot.start:%H%M}"


def version_on(versions: Sequence[PackageVersion], day: date) -> PackageVersion | None:
    """The version that says what happens on `day`: the latest one made among those effective
    on or before it (a later change from an earlier date overrides a pending one)."""
    found = [v for v in versions if v.effective_from <= day]
    return max(found, key=lambda v: v.version) if found else None


def slots_on(request_id: int, version: PackageVersion, day: date) -> list[PlannedSlot]:
    if day < version.start_date or (version.end_date is not None and day > version.end_date):
        return []
    return [
        PlannedSlot(
            visit_ref=visit_ref(request_id, day, slot),
            planned_start=datetime.combine(day, slot.start, LONDON),
            minutes=slot.minutes,
            carers=slot.carers,
            service_type=slot.service_type,
        )
        for slot in sorted(version.visits, key=lambda s: s.start)
        if day.weekday() in slot.days
    ]


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def planned_between(
    request_id: int,
    versions: Sequence[PackageVersion],
    first: date,
    last: date,
    *,
    after: datetime,
) -> list[PlannedSlot]:
    """The planned visits of London days [first, last] that start after `after`."""
    found: list[PlannedSlot] = []
    for day in _days(first, last):
        version = version_on(versions, day)
        if version is not None:
            found += [s for s in slots_on(request_id, version, day) if s.planned_start > after]
    return found


def replan(
    request_id: int,
    before: Sequence[PackageVersion],
    after_change: Sequence[PackageVersion],
    first: date,
    last: date,
    *,
    now: datetime,
) -> tuple[list[PlannedSlot], list[PlannedSlot]]:
    """What a change does to London days [first, last]: (visits to write as planned, visits
    to cancel). Visits that already started are history and are left alone."""
    old = planned_between(request_id, before, first, last, after=now)
    new = planned_between(request_id, after_change, first, last, after=now)
    kept = {slot.visit_ref for slot in new}
    return new, [slot for slot in old if slot.visit_ref not in kept]


def schedule_csv(
    service_user_id: str,
    provider_id: str,
    planned: Sequence[PlannedSlot],
    cancelled: Sequence[PlannedSlot] = (),
) -> str:
    """The rows as schedule.csv (docs/reconciliation.md, with the optional `status` column)."""
    out = io.StringIO()
    # The schedule import reads it back through the CSV helper's escape (core.csv_safe).
    writer = csv_safe.writer(out, lineterminator="\n")
    writer.writerow(SCHEDULE_HEADER)
    for slots, status in ((planned, "planned"), (cancelled, "cancelled")):
        for slot in slots:
            writer.writerow(
                (
                    slot.visit_ref,
                    service_user_id,
                    provider_id,
                    slot.planned_start.isoformat(),
                    slot.minutes,
                    slot.carers,
                    slot.service_type,
                    status,
                )
            )
    return out.getvalue()
