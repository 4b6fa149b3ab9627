"""The tag counter rule inside the store transaction, with two real connections as two workers."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from core.settings import Settings
from gateway.protocol import EventClaims, EventType, events_topic
from ingest import store
from ingest.verify import Evidence, ReceivedMessage, VerifiedEvent
from tests.support.ids import unique


@pytest.fixture
def workers(settings: Settings) -> Iterator[tuple[psycopg.Connection, psycopg.Connection]]:
    first = psycopg.connect(settings.database_url, autocommit=True)
    second = psycopg.connect(settings.database_url, autocommit=True)
    yield first, second
    first.close()
    second.close()


_SEQ = itertools.count(1)


def tap_event(uid: str, counter: int, device_id: str = "D-counter") -> VerifiedEvent:
    claims = EventClaims.build(
        event_id=uuid.uuid4(),
        device_id=device_id,
        carer_id="C-counter",
        seq=next(_SEQ),  # a new event each time: only the tag's counter repeats
        type=EventType.CHECK_IN,
        device_time=datetime.now(UTC),
    )
    message = ReceivedMessage(0, events_topic(device_id), b"x.y.z", datetime.now(UTC))
    evidence = Evidence(level="tag", tag_uid=uid, tag_counter=counter)
    return VerifiedEvent(message, claims, "P-counter", evidence)


def stored_counters(conn: psycopg.Connection, uid: str) -> list[int]:
    rows = conn.execute(
        "select tag_counter from device_event where tag_uid = %s order by tag_counter", (uid,)
    ).fetchall()
    return [row[0] for row in rows]


def test_taps_in_one_batch_are_judged_in_counter_order(
    workers: tuple[psycopg.Connection, psycopg.Connection],
) -> None:
    conn, _ = workers
    uid = unique("T")
    batch = [tap_event(uid, 7), tap_event(uid, 5), tap_event(uid, 7), tap_event(uid, 6)]
    with conn.transaction():
        result = store.store_batch(conn, batch, [])
    assert result.stored == 3
    assert [e.reason for e in result.rejected] == ["tag_counter_replayed"]
    assert stored_counters(conn, uid) == [5, 6, 7]


def test_two_workers_cannot_both_accept_one_counter(
    workers: tuple[psycopg.Connection, psycopg.Connection],
) -> None:
    first, second = workers
    uid = unique("T")
    with first.transaction():
        store.store_batch(first, [tap_event(uid, 1)], [])
    # Worker one holds the tag's counter row in an open transaction; worker two, with a copy
    # of the same tap in another event, must wait for it and then see the counter moved on.
    outcome: list[store.BatchResult] = []
    with first.transaction():
        store.store_batch(first, [tap_event(uid, 2)], [])

        def worker_two() -> None:
            with second.transaction():
                outcome.append(store.store_batch(second, [tap_event(uid, 2)], []))

        thread = threading.Thread(target=worker_two)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "worker two did not wait for worker one's lock"
    thread.join(timeout=10)
    [result] = outcome
    assert result.stored == 0 and len(result.rejected) == 1
    assert stored_counters(first, uid) == [1, 2]


def test_a_rolled_back_batch_leaves_the_counter_where_it_was(
    workers: tuple[psycopg.Connection, psycopg.Connection],
) -> None:
    conn, _ = workers
    uid = unique("T")

    class Abort(Exception):
        pass

    with pytest.raises(Abort), conn.transaction():
        store.store_batch(conn, [tap_event(uid, 9)], [])
        raise Abort
    with conn.transaction():
        result = store.store_batch(conn, [tap_event(uid, 9)], [])
    assert result.stored == 1 and result.rejected == ()
