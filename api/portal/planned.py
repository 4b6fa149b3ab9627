"""Today's planned visits not yet started, for the live page: the schedule says they are due,
no visit has matched them, and their missed deadline has not passed (or they would be visits
with status missed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, text

from api.times import london_day


@dataclass(frozen=True)
class PlannedVisit:
    visit_ref: str
    service_user_id: str
    planned_start: datetime
    planned_minutes: int
    carers_required: int


def planned_on(conn: Connection, provider_id: str, day: date) -> list[PlannedVisit]:
    window = london_day(day)
    rows = conn.execute(
        text(
            "select visit_ref, service_user_id, planned_start, planned_minutes, carers_required "
            "from planned_visit_version where superseded_at is null and status = 'planned' "
            "and provider_id = :provider and planned_start >= :start and planned_start < :end "
            "order by planned_start, visit_ref"
        ),
        {"provider": provider_id, "start": window.start, "end": window.end},
    )
    return [PlannedVisit(*row) for row in rows]
