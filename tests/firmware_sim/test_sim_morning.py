"""A simulated morning: the plan offline, then published to the real Mosquitto."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import Engine

from core.settings import Settings
from firmware_sim.morning import prepare_morning, simulate_morning
from firmware_sim.publisher import Uplink
from firmware_sim.world import World, generate_world
from gateway.pki.identity import TlsIdentity, service_identity
from gateway.protocol import (
    EventClaims,
    EventType,
    Rejected,
    Rejection,
    device_from_topic,
    events_subscription,
    parse_compact,
    public_key_from_b64,
)
from gateway.registry import seed
from tests.support.ids import unique
from tests.support.polling import wait_until

DAY = date(2026, 3, 2)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(21, providers=2, carers=6, service_users=12, visits=30, day=DAY)


def test_every_carer_visit_is_checked_in_and_most_out(world: World) -> None:
    morning = prepare_morning(world, dead_phone_share=0.2, rng=random.Random(3))
    carer_visits = sum(v.carers_required for v in world.visits)
    assert len(morning.carer_visits) == carer_visits
    assert morning.expected_complete + morning.expected_open == carer_visits
    assert morning.expected_open > 0

    check_ins = [e for e in morning.events if e.claims.type is EventType.CHECK_IN]
    check_outs = [e for e in morning.events if e.claims.type is EventType.CHECK_OUT]
    assert len(check_ins) == carer_visits
    assert len(check_outs) == morning.expected_complete


def test_events_are_in_device_time_order_and_seq_follows_it(world: World) -> None:
    morning = prepare_morning(world, late_share=0.3, rng=random.Random(4))
    times = [e.claims.device_time for e in morning.events]
    assert times == sorted(times)
    per_device: dict[str, list[int]] = defaultdict(list)
    for event in morning.events:
        per_device[event.claims.device_id].append(event.claims.seq)
    for seqs in per_device.values():
        assert seqs == list(range(len(seqs)))


def test_a_carer_checks_out_before_the_next_check_in(world: World) -> None:
    morning = prepare_morning(world, late_share=0.5, rng=random.Random(5))
    per_carer: dict[str, list[Any]] = defaultdict(list)
    for cv in morning.carer_visits:
        per_carer[cv.carer_id].append(cv)
    late_seen = False
    for visits in per_carer.values():
        for previous, current in pairwise(visits):
            assert current.arrived >= previous.left + timedelta(minutes=5)
        for cv in visits:
            assert cv.left - cv.arrived >= timedelta(minutes=5)
            if cv.late:
                late_seen = True
                assert cv.arrived >= cv.visit.planned_start + timedelta(minutes=20)
    assert late_seen


def test_the_plan_repeats_for_a_seed_except_event_ids(world: World) -> None:
    first = prepare_morning(world, tampered=3, rng=random.Random(8))
    second = prepare_morning(world, tampered=3, rng=random.Random(8))
    assert first.carer_visits == second.carer_visits
    assert [e.claims.device_time for e in first.events] == [
        e.claims.device_time for e in second.events
    ]
    assert {e.event_id for e in first.events}.isdisjoint(e.event_id for e in second.events)


def test_tampered_copies_follow_their_originals(world: World) -> None:
    morning = prepare_morning(world, tampered=5, rng=random.Random(9))
    assert len(morning.tampered) == 5
    for copy in morning.tampered:
        original = morning.events[copy.after]
        assert copy.topic == original.topic
        assert copy.token != original.token
        assert copy.token.split(".")[:2] == original.token.split(".")[:2]


class Subscriber:
    """A separate client listening to every device's events, as ingest would."""

    def __init__(self, settings: Settings) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=unique("ecm-test-sim-sub-")
        )
        # The dev/test operator identity may read every device's events, as ingest does.
        service_identity(settings, "operator").apply(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(settings.mqtt_host, settings.mqtt_port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK"

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(events_subscription(None), qos=1)

    def _on_subscribe(self, *args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def received(self, device_ids: set[str]) -> list[tuple[str, bytes]]:
        with self._lock:
            return [(t, p) for t, p in self.messages if device_from_topic(t) in device_ids]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.integration
def test_a_morning_reaches_a_subscriber_through_mosquitto(
    settings: Settings,
    engine: Engine,
    provision: Callable[[list[str]], dict[str, TlsIdentity]],
) -> None:
    # A prefix of our own: other tests share the broker and may publish under D0001 too.
    world = generate_world(
        31,
        providers=2,
        carers=5,
        service_users=10,
        visits=25,
        day=DAY,
        id_prefix=unique("S") + "-",
    )
    keys = {d.id: public_key_from_b64(d.public_key) for d in world.registry_document().devices}
    with engine.begin() as conn:
        seed(conn, world.registry_document())
    # Each handset connects with its own certificate: the broker refuses anything else.
    identities = provision(sorted(keys))
    subscriber = Subscriber(settings)
    progress: list[tuple[int, int]] = []
    try:
        with Uplink(
            settings.mqtt_host, settings.mqtt_port, device_identity=identities.__getitem__
        ) as uplink:
            result = simulate_morning(
                world,
                uplink,
                tampered=3,
                dead_phone_share=0.1,
                seed=2,
                on_progress=lambda sent, total: progress.append((sent, total)),
            )
            assert uplink.refused == 0
        expected = result.events_sent + result.tampered_sent

        def all_arrived() -> list[tuple[str, bytes]] | None:
            got = subscriber.received(set(keys))
            return got if len(got) >= expected else None

        received = wait_until(all_arrived)
    finally:
        subscriber.close()

    assert result.all_acked
    assert result.events_acked == expected
    assert result.tampered_sent == 3
    assert result.visits_planned == 25
    carer_visits = sum(v.carers_required for v in world.visits)
    assert result.expected_complete + result.expected_open == carer_visits
    assert result.events_sent == carer_visits + result.expected_complete
    assert progress[0] == (0, expected) and progress[-1] == (expected, expected)

    assert len(received) == expected
    verified: list[EventClaims] = []
    bad_signatures = 0
    for topic, payload in received:
        signed = parse_compact(payload)
        assert device_from_topic(topic) == signed.kid
        try:
            signed.verify(keys[signed.kid])
        except Rejected as refused:
            assert refused.reason is Rejection.BAD_SIGNATURE
            bad_signatures += 1
            continue
        claims = EventClaims.model_validate_json(signed.payload)
        assert claims.device_id == signed.kid
        verified.append(claims)
    assert len(verified) == result.events_sent
    assert bad_signatures == result.tampered_sent
    assert len({c.event_id for c in verified}) == len(verified)
    # One connection, QoS 1: each handset's events arrive in the order it signed them.
    per_device: dict[str, list[int]] = defaultdict(list)
    for claims in verified:
        per_device[claims.device_id].append(claims.seq)
    assert all(seqs == sorted(seqs) for seqs in per_device.values())
