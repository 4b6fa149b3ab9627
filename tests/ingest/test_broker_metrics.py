"""Ingest's metrics carry the broker's queue depth, read from $SYS as the ingest identity on the
test stack's broker (whose access rules come from gateway.broker, as in production).

Mosquitto 2.0 republishes a $SYS figure only when it changes, as a retained message that expires
after 60 s; a figure that has been steady for a minute reaches a new subscriber only at its next
change. So the test makes the queue change itself: receipts published to a handset that is away
with a persistent session wait in the broker's queue. (The drops counter is proven on a broker of
its own, tests/gateway/test_broker_limits.py, where a full queue makes drops happen.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import generate_latest

from core.settings import Settings
from gateway.pki.identity import TlsIdentity, service_identity
from gateway.protocol import receipts_topic
from ingest import metrics
from tests.support.devices import TestDevice
from tests.support.ids import unique
from tests.support.polling import wait_until

QUEUED = 5


@contextmanager
def connected(
    settings: Settings, identity: TlsIdentity, client_id: str, *, clean_start: bool = True
) -> Iterator[mqtt.Client]:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    identity.apply(client)
    session = Properties(PacketTypes.CONNECT)
    session.SessionExpiryInterval = 600
    client.connect(
        settings.mqtt_host, settings.mqtt_port, clean_start=clean_start, properties=session
    )
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def exported_figure(name: str) -> float | None:
    for line in generate_latest(metrics.REGISTRY).decode().splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return None


def queued_at_least(count: float) -> float | None:
    queued = exported_figure("ecm_broker_queued_messages")
    return queued if queued is not None and queued >= count else None


def test_an_ingest_worker_exports_the_brokers_queue_depth(
    settings: Settings,
    make_device: Callable[[], TestDevice],
    provision: Callable[[list[str]], dict[str, TlsIdentity]],
) -> None:
    device = make_device()
    handset_identity = provision([device.device_id])[device.device_id]
    handset_id = unique("ecm-test-away-")
    topic = receipts_topic(device.device_id)

    def queue_receipts(count: int) -> None:
        with connected(settings, service_identity(settings, "ingest"), unique("ecm-test-")) as c:
            for n in range(count):
                c.publish(topic, f'{{"ver":1,"n":{n}}}'.encode(), qos=1).wait_for_publish(10)

    # The handset subscribes with a session that outlives its connection, then goes away.
    with connected(settings, handset_identity, handset_id, clean_start=False) as handset:
        subscribed = threading.Event()
        handset.on_subscribe = lambda *_: subscribed.set()
        handset.subscribe(topic, qos=1)
        assert subscribed.wait(10)

    stats = metrics.watch_broker(settings, worker_index=99)
    try:
        queue_receipts(QUEUED)
        # The broker publishes $SYS every sys_interval (10 s) in the test stack's config.
        before = wait_until(lambda: queued_at_least(QUEUED), timeout_s=30)
        assert wait_until(lambda: exported_figure("ecm_broker_clients_connected"), timeout_s=30)
        assert exported_figure("ecm_broker_stored_messages") is not None

        queue_receipts(QUEUED)
        wait_until(lambda: queued_at_least(before + QUEUED), timeout_s=30)
        age = exported_figure("ecm_broker_stats_age_seconds")
        assert age is not None and 0 <= age < 30
    finally:
        stats.stop()
        metrics.REGISTRY.unregister(stats)
        # A clean start ends the session and, with it, the receipts still queued.
        with connected(settings, handset_identity, handset_id, clean_start=True):
            pass
