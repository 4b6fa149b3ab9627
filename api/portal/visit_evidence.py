"""The evidence behind one visit's stays, read for the visit page: each event's times, tag tap
and GPS fix with what ingest measured, and the home it was measured against.

The visit itself comes from visits.service.get_visit (tenant check, provider check, fresh
build); this reads only rows that visit names, of the same provider."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection

from api.events import repository
from api.events.schemas import EventEvidence
from core.times import Window, london_day
from gateway.registry.repository import home_location
from visits.views import Visit

__all__ = ["EventEvidence", "Home", "visit_events", "visit_home"]


@dataclass(frozen=True)
class Home:
    service_user_id: str
    lat: float
    lon: float
    geofence_m: float


def visit_events(conn: Connection, provider_id: str, visit: Visit) -> list[EventEvidence]:
    ids = [
        event_id
        for stay in visit.carers
        for event_id in (stay.check_in_event_id, stay.check_out_event_id)
        if event_id is not None
    ]
    if not ids:
        return []
    # A stay lies within a day either side of its visit's London day (pairing reaches to the
    # end of the next day).
    day = london_day(visit.london_day)
    window = Window(day.start - timedelta(days=1), day.end + timedelta(days=2))
    return repository.events_with_evidence(conn, provider_id, ids, window)


def visit_home(conn: Connection, visit: Visit) -> Home | None:
    if visit.service_user_id is None:
        return None
    found = home_location(conn, visit.service_user_id)
    if found is None:
        return None
    return Home(visit.service_user_id, *found)
