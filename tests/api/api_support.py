"""Helpers for the API tests: a client on the real test database, and direct evidence inserts
(ingest is another package's job; these tests only need rows to read)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from ecm.settings import Settings
from gateway.protocol import EventType, GpsFix, TagReading
from ingest.store import EVENT_COLUMNS, event_row
from ingest.verify import Evidence, ReceivedMessage, VerifiedEvent
from tests.conftest import TestDevice

_INSERT_EVENT = text(
    f"insert into device_event ({', '.join(EVENT_COLUMNS)}) "
    f"values ({', '.join(':' + column for column in EVENT_COLUMNS)})"
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
    # The tap's bytes do not matter here: the row carries what ingest would have decrypted.
    tap = TagReading(picc="0" * 32, mac="0" * 16) if tag_uid else None
    claims, jws = device.event(type, at, tag=tap, gps=gps, **overrides)
    evidence = Evidence(level="tag", tag_uid=tag_uid, tag_counter=1) if tag_uid else Evidence()
    # The same claims-to-row mapping ingest uses, so these rows are what ingest would store.
    received = ReceivedMessage(
        mid=0, topic=device.topic, payload=jws.encode(), received_at=datetime.now(UTC)
    )
    row = event_row(VerifiedEvent(received, claims, device.provider_id, evidence))
    with engine.begin() as conn:
        conn.execute(_INSERT_EVENT, dict(zip(EVENT_COLUMNS, row, strict=True)))
    return claims.event_id
