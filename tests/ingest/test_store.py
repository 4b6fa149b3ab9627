"""The store's write side on the real database: new events copied once, redeliveries counted."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from core.settings import Settings
from gateway.protocol import EventClaims, EventType, Rejection
from ingest import store
from ingest.verify import ReceivedMessage, VerifiedEvent
from tests.support.devices import TestDevice


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.database_url, autocommit=True) as connection:
        yield connection


def verified(
    device: TestDevice, seq: int, event_id: uuid.UUID | None = None, payload: bytes = b"x.y.z"
) -> VerifiedEvent:
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
        ReceivedMessage(seq, device.topic, payload, now), claims, device.provider_id
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


def test_an_event_id_reused_under_a_new_seq_is_a_conflict_and_the_rest_stored(
    conn: psycopg.Connection, make_device: Callable[[], TestDevice]
) -> None:
    device = make_device()
    original = verified(device, 1, payload=b"h.original.s")
    store_in_transaction(conn, [original])
    reused = verified(device, 2, event_id=original.claims.event_id, payload=b"h.reused.s")
    reused = VerifiedEvent(
        reused.message,
        reused.claims.model_copy(update={"device_time": original.claims.device_time}),
        device.provider_id,
    )

    result = store_in_transaction(conn, [verified(device, 3), reused])

    assert (result.stored, result.duplicates, result.quarantined) == (1, 0, 1)
    [entry] = result.rejected
    assert entry.reason is Rejection.CONFLICT
    assert f"already stored as seq 1 of device {device.device_id!r}" in entry.detail
    assert count(conn, device) == 2
    seqs = conn.execute(
        "select seq from device_sequence where device_id = %s order by seq", (device.device_id,)
    ).fetchall()
    assert seqs == [(1,), (3,)]
    quarantined = conn.execute(
        "select reason, payload from quarantined_message where event_id = %s",
        (original.claims.event_id,),
    ).fetchall()
    assert quarantined == [("conflict", b"h.reused.s")]


def test_an_event_id_reused_by_another_device_is_a_conflict(
    conn: psycopg.Connection, make_device: Callable[[], TestDevice]
) -> None:
    first, second = make_device(), make_device()
    original = verified(first, 1, payload=b"h.first.s")
    store_in_transaction(conn, [original])

    result = store_in_transaction(
        conn, [verified(second, 1, event_id=original.claims.event_id, payload=b"h.second.s")]
    )

    assert (result.stored, result.quarantined) == (0, 1)
    assert result.rejected[0].reason is Rejection.CONFLICT
    assert count(conn, second) == 0


def test_the_same_event_id_and_seq_with_other_signed_bytes_is_a_conflict_not_a_duplicate(
    conn: psycopg.Connection, make_device: Callable[[], TestDevice]
) -> None:
    device = make_device()
    original = verified(device, 1, payload=b"h.original.sig1")
    store_in_transaction(conn, [original])
    altered = VerifiedEvent(
        ReceivedMessage(9, device.topic, b"h.altered.sig2", datetime.now(UTC)),
        original.claims,
        device.provider_id,
    )
    # The same signing input with surrounding whitespace is the same signed event.
    resent = VerifiedEvent(
        ReceivedMessage(10, device.topic, b" h.original.sig1\n", datetime.now(UTC)),
        original.claims,
        device.provider_id,
    )

    result = store_in_transaction(conn, [altered, resent])

    assert (result.stored, result.duplicates, result.quarantined) == (0, 1, 1)
    [entry] = result.rejected
    assert entry.reason is Rejection.CONFLICT
    assert str(original.claims.event_id) in entry.detail
    assert "different signed bytes" in entry.detail
    assert count(conn, device) == 1
    stored = conn.execute(
        "select raw_jws from device_event where device_id = %s", (device.device_id,)
    ).fetchall()
    assert stored == [("h.original.sig1",)]


def test_a_conflicting_copy_within_one_batch_is_quarantined_beside_the_first(
    conn: psycopg.Connection, make_device: Callable[[], TestDevice]
) -> None:
    device = make_device()
    first = verified(device, 1, payload=b"h.one.s")
    second = VerifiedEvent(
        ReceivedMessage(2, device.topic, b"h.two.s", datetime.now(UTC)),
        first.claims,
        device.provider_id,
    )

    result = store_in_transaction(conn, [first, second, first])

    assert (result.stored, result.duplicates, result.quarantined) == (1, 1, 1)
    assert result.rejected[0].reason is Rejection.CONFLICT
