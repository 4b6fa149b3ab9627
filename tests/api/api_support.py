"""Helpers for the API tests: a client on the real test database, and direct evidence inserts
(ingest is another package's job; these tests only need rows to read)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb
from sqlalchemy import Engine, text

from api.app import create_app
from ecm.settings import Settings
from gateway.protocol import EventType, GpsFix, TagReading
from tests.conftest import TestDevice

_INSERT_EVENT = text(
    "insert into device_event (event_id, device_time, received_at, device_id, provider_id, "
    "carer_id, service_user_id, seq, event_type, tag_uid, gps_lat, gps_lon, gps_accuracy_m, "
    "gps_fix_time, protocol_version, topic, raw_jws, claims) values (:event_id, :device_time, "
    ":received_at, :device_id, :provider_id, :carer_id, :service_user_id, :seq, :event_type, "
    ":tag_uid, :gps_lat, :gps_lon, :gps_accuracy_m, :gps_fix_time, 1, :topic, :raw_jws, :claims)"
)


def client_for(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def utc(text_time: str) -> datetime:
    return datetime.fromisoformat(text_time).replace(tzinfo=UTC)


def insert_event(
    engine: Engine,
    device: TestDevice,
    type: EventType,
    at: datetime,
    *,
    tag_uid: str | None = None,
    gps: GpsFix | None = None,
    **overrides: Any,
) -> UUID:
    """Store a signed event straight into the evidence table, as ingest would."""
    claims, jws = device.event(
        type, at, tag=TagReading(uid=tag_uid) if tag_uid else None, gps=gps, **overrides
    )
    with engine.begin() as conn:
        conn.execute(
            _INSERT_EVENT,
            {
                "event_id": claims.event_id,
                "device_time": claims.device_time,
                "received_at": datetime.now(UTC),
                "device_id": claims.device_id,
                "provider_id": device.provider_id,
                "carer_id": claims.carer_id,
                "service_user_id": claims.service_user_id,
                "seq": claims.seq,
                "event_type": claims.type.value,
                "tag_uid": claims.tag.uid if claims.tag else None,
                "gps_lat": gps.lat if gps else None,
                "gps_lon": gps.lon if gps else None,
                "gps_accuracy_m": gps.accuracy_m if gps else None,
                "gps_fix_time": gps.fix_time if gps else None,
                "topic": device.topic,
                "raw_jws": jws,
                "claims": Jsonb(claims.model_dump(mode="json", exclude_none=True)),
            },
        )
    return claims.event_id
