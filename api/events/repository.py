"""All event-store read SQL. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, RowMapping, text

from api.events.schemas import Event, EventEvidence, EventScope, Gps, QuarantinedMessage
from core.times import Window


def scope_condition(scope: EventScope) -> tuple[str, dict[str, Any]]:
    """A SQL condition over device_event's columns, built from fixed fragments only."""
    clauses = ["provider_id = :provider_id"]
    params: dict[str, Any] = {"provider_id": scope.provider_id}
    if scope.carer_id is not None:
        clauses.append("carer_id = :carer_id")
        params["carer_id"] = scope.carer_id
    if scope.service_user_id is not None:
        clauses.append("service_user_id = :service_user_id")
        params["service_user_id"] = scope.service_user_id
    return " and ".join(clauses), params


def list_events(conn: Connection, scope: EventScope, *, limit: int, offset: int) -> list[Event]:
    condition, params = scope_condition(scope)
    window = scope.window
    if window is not None:
        # A range on device_time (not a date cast) so the (provider_id, device_time) index and
        # partition pruning apply.
        condition += " and device_time >= :start and device_time < :end"
        params.update(start=window.start, end=window.end)
    rows = conn.execute(
        text(
            "select event_id, device_id, carer_id, service_user_id, seq, event_type, "
            "device_time, received_at, tag_uid, gps_lat, gps_lon, gps_accuracy_m, gps_fix_time "
            f"from device_event where {condition} "
            "order by device_time, seq, event_id limit :limit offset :offset"
        ),
        {**params, "limit": limit, "offset": offset},
    ).mappings()
    return [_event(row) for row in rows]


def _event(row: RowMapping) -> Event:
    gps = None
    if row["gps_lat"] is not None and row["gps_lon"] is not None:
        gps = Gps(
            lat=row["gps_lat"],
            lon=row["gps_lon"],
            accuracy_m=row["gps_accuracy_m"],
            fix_time=row["gps_fix_time"],
        )
    return Event(
        event_id=row["event_id"],
        device_id=row["device_id"],
        carer_id=row["carer_id"],
        service_user_id=row["service_user_id"],
        seq=row["seq"],
        type=row["event_type"],
        device_time=row["device_time"],
        received_at=row["received_at"],
        tag_uid=row["tag_uid"],
        gps=gps,
    )


def list_quarantined(
    conn: Connection, reason: str | None, *, limit: int, offset: int
) -> list[QuarantinedMessage]:
    condition = "reason = :reason" if reason is not None else "true"
    rows = conn.execute(
        text(
            "select id, received_at, topic, reason, detail, device_id, event_id, payload "
            f"from quarantined_message where {condition} "
            "order by id limit :limit offset :offset"
        ),
        {"reason": reason, "limit": limit, "offset": offset},
    ).mappings()
    return [QuarantinedMessage.model_validate(dict(row)) for row in rows]


def events_with_evidence(
    conn: Connection, provider_id: str, event_ids: Sequence[UUID], window: Window
) -> list[EventEvidence]:
    """The provider's events of those ids with device time in the window, with what ingest
    measured (bounding device_time lets partition pruning apply)."""
    rows = conn.execute(
        text(
            "select event_id, carer_id, device_id, event_type, device_time, received_at, "
            "tag_uid, tag_counter, evidence_level, gps_lat, gps_lon, gps_accuracy_m, "
            "gps_distance_m, gps_within_fence, late_arriving from device_event "
            "where provider_id = :provider and event_id = any(:ids) "
            "and device_time >= :start and device_time < :end order by device_time, seq"
        ),
        {"provider": provider_id, "ids": list(event_ids), "start": window.start, "end": window.end},
    ).mappings()
    return [EventEvidence(**row) for row in rows]
