"""The store's write side on the real database: new events copied once, redeliveries counted."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import errors

from core.settings import Settings
from gateway.protocol import EventClaims, EventType
from ingest import store
from ingest.verify import ReceivedMessage, VerifiedEvent
from tests.support.devices import TestDevice


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.database_url, autocommit=True) as connection:
        yield connection


def verified(device: TestDevice, seq: int, event_id: uuid.UUID | None = None) -> VerifiedEvent:
    now = datetime.now(UTC)
    claims = EventClaims.build(
        event_id=event_id or uuid.uuid4(),
        device_id=device.device_id,
        carer_id=device.carer_id,
        seq=seq,
        type=EventType.CHECK_IN,
        device_time=now,
        service_user_id=device.service_user_id,
    )
    return VerifiedEvent(
        ReceivedMessage(seq, device.topic, b"x.y.z", now), claims, device.provider_id
    )


def store_in_transaction(
    conn: psycopg.Connection, events: list[VerifiedEvent]
) -> store.BatchResult:
    with conn.transaction():
        return store.store_batch(conn, events, [])


def count(conn: psycopg.Connection, device: TestDevice) -> int:
    row = conn.execute(
        "select count(*) from device_event where device_id = %s", (device.device_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_an_event_twice_in_one_batch_is_stored_once(
    conn: psycopg.Connection, make_device: Callable[[], TestDevice]
) -> None:
    device = make_device()
    first, second = verified(device, 1), verified(device, 2)

    result = store_in_transaction(conn, [first, second, first])

    assert (result.stored, result.duplicates, result.quarantined) == (2, 1, 0)
    assert count(conn, device) == 2


def test_a_redelivered_batch_is_counted_not_stored(
    conn: psycopg.Connection, make_device: Callable[[], TestDevice]
) -> None:
    device = make_device()
    batch = [verified(device, seq) for seq in (1, 2, 3)]
    store_in_transaction(conn, batch)

    again = store_in_transaction(conn, [*batch, verified(device, 4)])

    assert (again.stored, again.duplicates, again.quarantined) == (1, 3, 0)
    assert count(conn, device) == 4


def test_an_event_id_reused_under_a_new_seq_fails_the_batch_and_stores_nothing(
    conn: psycopg.Connection, make_device: Callable[[], TestDevice]
) -> None:
    """The worker then stores the batch event by event and quarantines this one (store_error)."""
    device = make_device()
    original = verified(device, 1)
    store_in_transaction(conn, [original])
    reused = verified(device, 2, event_id=original.claims.event_id)
    reused = VerifiedEvent(
        reused.message,
        reused.claims.model_copy(update={"device_time": original.claims.device_time}),
        device.provider_id,
    )

    with pytest.raises(errors.UniqueViolation):
        store_in_transaction(conn, [verified(device, 3), reused])

    assert count(conn, device) == 1
    row = conn.execute(
        "select count(*) from device_sequence where device_id = %s", (device.device_id,)
    ).fetchone()
    assert row == (1,)
