"""Sequence and clock rules end to end, with two ingest workers sharing the subscription."""

from __future__ import annotations

import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine, text

from core.process import free_port
from core.settings import Settings
from gateway.pki.identity import service_identity
from gateway.protocol import EventClaims, EventType, Rejection, sign_compact
from ingest import sequence
from ingest.verify import ReceivedMessage, VerifiedEvent
from tests.ingest.worker_support import extra_worker
from tests.support.devices import TestDevice
from tests.support.evidence import quarantined, stored_events
from tests.support.ids import unique
from tests.support.polling import wait_until

Publish = Callable[[str, str | bytes], None]
SECOND_WORKER = 7


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module", autouse=True)
def two_workers(
    ingest_worker: object, settings: Settings, role_env: dict[str, str], metrics_port: int
) -> Iterator[None]:
    """The session's worker plus a second one in the same share group."""
    with extra_worker(
        settings,
        role_env,
        SECOND_WORKER,
        ECM_INGEST_METRICS_PORT=str(metrics_port - SECOND_WORKER),
    ):
        yield


@pytest.fixture(scope="module")
def v5_publisher(settings: Settings) -> Iterator[Callable[..., None]]:
    """Publish at QoS 1 with MQTT v5 user properties, waiting for PUBACK."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=unique("ecm-t-v5-"), protocol=mqtt.MQTTv5
    )
    service_identity(settings, "operator").apply(client)
    client.max_inflight_messages_set(1000)
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    pending: list[mqtt.MQTTMessageInfo] = []

    def _publish(
        topic: str, payload: str, sent_at: datetime | None = None, wait: bool = True
    ) -> None:
        properties = Properties(PacketTypes.PUBLISH)
        if sent_at is not None:
            properties.UserProperty = ("sent-at", sent_at.isoformat())
        pending.append(client.publish(topic, payload, qos=1, properties=properties))
        if wait:
            for info in pending:
                info.wait_for_publish(timeout=30)
                assert info.is_published()
            pending.clear()

    yield _publish
    client.loop_stop()
    client.disconnect()


def replay_of(device: TestDevice, seq: int, type: EventType = EventType.CHECK_OUT) -> str:
    """A new event (fresh id) that reuses an already used seq: what a replay attack sends."""
    claims = EventClaims.build(
        event_id=uuid.uuid4(),
        device_id=device.device_id,
        carer_id=device.carer_id,
        seq=seq,
        type=type,
        device_time=datetime.now(UTC),
        service_user_id=device.service_user_id,
    )
    return sign_compact(claims.to_json(), device.key, kid=device.device_id)


def test_a_new_event_reusing_a_stored_seq_is_quarantined_as_replayed(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device = make_device()
    claims, token = device.event(EventType.CHECK_IN)
    publisher(device.topic, token)
    wait_until(lambda: stored_events(engine, device.device_id))

    publisher(device.topic, replay_of(device, claims.seq))
    publisher(device.topic, token)  # a redelivery of the stored event: a duplicate, not a replay

    [entry] = wait_until(lambda: quarantined(engine, device_id=device.device_id))
    assert entry["reason"] == "seq_replayed"
    assert str(claims.event_id) in entry["detail"]
    _, marker = device.event(EventType.CHECK_OUT)
    publisher(device.topic, marker)
    wait_until(lambda: len(stored_events(engine, device.device_id)) == 2)
    assert len(quarantined(engine, device_id=device.device_id)) == 1


def test_an_event_far_behind_the_highest_seq_is_too_old(
    make_device: Callable[[], TestDevice], publisher: Publish, engine: Engine
) -> None:
    device = make_device()
    device.seq = 5000
    _, high = device.event(EventType.CHECK_IN)
    publisher(device.topic, high)
    wait_until(lambda: stored_events(engine, device.device_id))

    publisher(device.topic, replay_of(device, 3000))  # within no window: 2001 behind
    publisher(device.topic, replay_of(device, 4500))  # 501 behind: late but in the window

    [entry] = wait_until(lambda: quarantined(engine, device_id=device.device_id))
    assert entry["reason"] == "seq_too_old"
    assert "2001 behind" in entry["detail"]
    wait_until(lambda: len(stored_events(engine, device.device_id)) == 2)


def test_conflicting_seqs_in_a_burst_over_two_workers_store_exactly_one_each(
    make_device: Callable[[], TestDevice], v5_publisher: Callable[..., None], engine: Engine
) -> None:
    devices = [make_device() for _ in range(10)]
    copies, seqs = 5, 40
    for _ in range(copies):
        for device in devices:
            for seq in range(seqs):
                v5_publisher(device.topic, replay_of(device, seq), wait=False)
    v5_publisher(devices[0].topic, replay_of(devices[0], seqs), wait=True)
    sent = len(devices) * copies * seqs + 1

    def outcome() -> tuple[int, int] | None:
        with engine.connect() as conn:
            ids = [d.device_id for d in devices]
            stored = conn.execute(
                text("select count(*) from device_event where device_id = any(:ids)"),
                {"ids": ids},
            ).scalar_one()
            held = conn.execute(
                text(
                    "select count(*) from quarantined_message where device_id = any(:ids) "
                    "and reason = 'seq_replayed'"
                ),
                {"ids": ids},
            ).scalar_one()
        return (stored, held) if stored + held == sent else None

    stored, replayed = wait_until(outcome, timeout_s=60)
    assert stored == len(devices) * seqs + 1
    assert replayed == sent - stored
    with engine.connect() as conn:
        doubled = conn.execute(
            text(
                "select count(*) from (select device_id, seq from device_event "
                "where device_id = any(:ids) group by 1, 2 having count(*) > 1) d"
            ),
            {"ids": [d.device_id for d in devices]},
        ).scalar_one()
    assert doubled == 0


def test_clock_rules_through_the_broker(
    make_device: Callable[[], TestDevice], v5_publisher: Callable[..., None], engine: Engine
) -> None:
    device = make_device()
    now = datetime.now(UTC)
    ahead = device.event(EventType.CHECK_IN, now + timedelta(hours=1))[1]
    offline = device.event(EventType.CHECK_IN, now - timedelta(hours=4))
    set_back = device.event(EventType.CHECK_OUT, now - timedelta(hours=4))[1]

    v5_publisher(device.topic, ahead)
    v5_publisher(device.topic, offline[1], sent_at=now)
    v5_publisher(device.topic, set_back, sent_at=now - timedelta(hours=4))

    [row] = wait_until(lambda: stored_events(engine, device.device_id))
    assert row["event_id"] == offline[0].event_id
    assert row["late_arriving"] is True
    assert row["received_at"] - row["device_time"] > timedelta(hours=3, minutes=59)
    entries = wait_until(
        lambda: (
            len(quarantined(engine, device_id=device.device_id)) == 2
            and quarantined(engine, device_id=device.device_id)
        )
    )
    assert {e["reason"] for e in entries} == {"clock_skew"}
    assert sorted("ahead" in e["detail"] for e in entries) == [False, True]


def test_the_metrics_endpoint_counts_what_the_worker_did(
    make_device: Callable[[], TestDevice], publisher: Publish, metrics_port: int
) -> None:
    device = make_device()
    for _ in range(20):
        publisher(device.topic, device.event(EventType.CHECK_IN)[1])
    publisher(device.topic, b"not a jws")

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    body = wait_until(lambda: "ecm_ingest_events_committed_total" in scrape() and scrape())
    for name in (
        "ecm_ingest_events_received_total",
        "ecm_ingest_events_verified_total",
        'ecm_ingest_events_quarantined_total{reason="',
        "ecm_ingest_events_duplicate_total",
        "ecm_ingest_events_late_arriving_total",
        "ecm_ingest_batch_size_bucket",
        "ecm_ingest_commit_seconds_bucket",
        "ecm_ingest_acks_outstanding",
        "ecm_ingest_messages_acked_total",
    ):
        assert name in body, name
    received = next(
        float(line.split()[1])
        for line in body.splitlines()
        if line.startswith("ecm_ingest_events_received_total")
    )
    assert received > 0


def test_admission_is_serial_per_device_across_concurrent_transactions(
    settings: Settings, make_device: Callable[[], TestDevice]
) -> None:
    """Two batches holding different events with one seq: the second waits, then sees a replay."""
    device = make_device()
    now = datetime.now(UTC)

    def verified(seq: int) -> VerifiedEvent:
        claims = EventClaims.build(
            event_id=uuid.uuid4(),
            device_id=device.device_id,
            carer_id=device.carer_id,
            seq=seq,
            type=EventType.CHECK_IN,
            device_time=now,
        )
        message = ReceivedMessage(1, device.topic, b"x", now)
        return VerifiedEvent(message, claims, device.provider_id)

    first, second = verified(1), verified(1)
    results: dict[str, sequence.Admission] = {}
    with psycopg.connect(settings.database_url) as a, psycopg.connect(settings.database_url) as b:
        results["a"] = sequence.admit(a.cursor(), [first], window=1000)

        def _second() -> None:
            results["b"] = sequence.admit(b.cursor(), [second], window=1000)
            b.commit()

        thread = threading.Thread(target=_second)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the second batch must wait for the first's device lock"
        a.commit()
        thread.join(timeout=10)
    assert results["a"].accepted == [first]
    assert results["b"].accepted == []
    [entry] = results["b"].rejected
    assert entry.reason is Rejection.SEQ_REPLAYED


def test_ingest_database_connections_carry_the_role_name(settings: Settings) -> None:
    with psycopg.connect(settings.database_url) as conn:
        names = [row[0] for row in conn.execute("select application_name from pg_stat_activity")]
    assert names.count("ecm.ingest") >= 2  # the session's worker and the second one
