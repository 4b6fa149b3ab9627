"""The evidence behind one visit's stays, read for the visit page: each event's times, tag tap
and GPS fix with what ingest measured, and the home it was measured against.

The visit itself comes from api.visits.service.get_visit (tenant check, provider check, fresh
build); this reads only rows that visit names, of the same provider."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import Connection, text

from api.times import london_day
from api.visits.schemas import Visit


@dataclass(frozen=True)
class EventEvidence:
    event_id: UUID
    carer_id: str
    device_id: str
    event_type: str
    device_time: datetime
    received_at: datetime
    tag_uid: str | None
    tag_counter: int | None
    evidence_level: str
    gps_lat: float | None
    gps_lon: float | None
    gps_accuracy_m: float | None
    gps_distance_m: float | None
    gps_within_fence: bool | None
    late_arriving: bool

    @property
    def receive_delay_s(self) -> float:
        """How long after the handset's clock said it happened the server received it."""
        return (self.received_at - self.device_time).total_seconds()


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
    # end of the next day): bounding device_time lets partition pruning apply.
    day = london_day(visit.london_day)
    rows = conn.execute(
        text(
            "select event_id, carer_id, device_id, event_type, device_time, received_at, "
            "tag_uid, tag_counter, evidence_level, gps_lat, gps_lon, gps_accuracy_m, "
            "gps_distance_m, gps_within_fence, late_arriving from device_event "
            "where provider_id = :provider and event_id = any(:ids) "
            "and device_time >= :start and device_time < :end order by device_time, seq"
        ),
        {
            "provider": provider_id,
            "ids": ids,
            "start": day.start - timedelta(days=1),
            "end": day.end + timedelta(days=2),
        },
    ).mappings()
    return [EventEvidence(**row) for row in rows]


def visit_home(conn: Connection, visit: Visit) -> Home | None:
    if visit.service_user_id is None:
        return None
    row = conn.execute(
        text("select id, home_lat, home_lon, geofence_m from service_user where id = :id"),
        {"id": visit.service_user_id},
    ).first()
    if row is None or row.home_lat is None or row.home_lon is None:
        return None
    return Home(row.id, row.home_lat, row.home_lon, row.geofence_m)
