"""The broker's own figures, read from Mosquitto's $SYS topics and exported for Prometheus.

Mosquitto 2.0 publishes its counters under $SYS/broker/ every `sys_interval` (10 s in the
generated config). What it offers on queues is broker-wide, not per client: the number and bytes
of messages in its store (queued for clients, in flight, and retained) and the number of
messages dropped because a client's queue was full. Queue depth here is store minus retained.
Per-client queue depth is not published by Mosquitto 2.0 at all.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.pki.identity import CLIENT_ID_PREFIX, TlsIdentity

log = logging.getLogger("ecm.broker")

SYS_TOPICS = "$SYS/broker/#"
STORED = "$SYS/broker/store/messages/count"
STORED_BYTES = "$SYS/broker/store/messages/bytes"
RETAINED = "$SYS/broker/retained messages/count"
DROPPED = "$SYS/broker/publish/messages/dropped"
CONNECTED = "$SYS/broker/clients/connected"
HEAP = "$SYS/broker/heap/current"
WANTED = (STORED, STORED_BYTES, RETAINED, DROPPED, CONNECTED, HEAP)


@dataclass(frozen=True)
class Figures:
    values: dict[str, float]
    # monotonic time of the last $SYS message; None before the first.
    updated: float | None

    @property
    def queued(self) -> float | None:
        # Both figures are needed: the store holds the retained messages too ($SYS's own among
        # them, which expire after 60 s), so the store count alone is no queue depth.
        if STORED not in self.values or RETAINED not in self.values:
            return None
        return max(0.0, self.values[STORED] - self.values[RETAINED])


def parse(payload: bytes) -> float | None:
    """A $SYS value: a number, sometimes followed by a unit ("12 seconds")."""
    try:
        return float(payload.split()[0])
    except (IndexError, ValueError):
        return None


def _believable(heap: float | None) -> float | None:
    """Mosquitto 2.0.11's heap count can run below zero and wrap to about 1.8e19 (seen on the
    test broker after a long suite): such a figure is left out rather than exported."""
    return heap if heap is not None and heap < 2**62 else None


class BrokerStats(Collector):
    """Keeps a connection subscribed to $SYS and yields the latest figures at each scrape."""

    def __init__(self, host: str, port: int, identity: TlsIdentity, client_name: str) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = {}
        self._updated: float | None = None
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{CLIENT_ID_PREFIX}stats-{client_name}-{uuid.uuid4().hex[:8]}",
        )
        identity.apply(self._client)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._host, self._port = host, port

    def start(self) -> None:
        # Asynchronous: a broker that is down now is retried by paho's loop, never fatal.
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, p: Any) -> None:
        if rc.is_failure:
            log.warning("broker statistics: connection refused (%s)", rc)
            return
        client.subscribe(SYS_TOPICS, qos=0)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic not in WANTED:
            return
        value = parse(bytes(message.payload))
        if value is None:
            return
        with self._lock:
            self._values[message.topic] = value
            self._updated = time.monotonic()

    def figures(self) -> Figures:
        with self._lock:
            return Figures(dict(self._values), self._updated)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        figures = self.figures()
        age = GaugeMetricFamily(
            "ecm_broker_stats_age_seconds",
            "Seconds since the broker last published its $SYS figures (-1: none yet).",
        )
        age.add_metric([], -1 if figures.updated is None else time.monotonic() - figures.updated)
        yield age
        gauges = (
            (
                "ecm_broker_queued_messages",
                "Messages the broker holds for clients (queued or in flight): its store less "
                "retained messages. Broker-wide; Mosquitto 2.0 has no per-client figure.",
                figures.queued,
            ),
            (
                "ecm_broker_stored_messages",
                "Messages in the broker's store, retained ones included.",
                figures.values.get(STORED),
            ),
            (
                "ecm_broker_stored_bytes",
                "Payload bytes in the broker's store.",
                figures.values.get(STORED_BYTES),
            ),
            (
                "ecm_broker_clients_connected",
                "Clients connected to the broker.",
                figures.values.get(CONNECTED),
            ),
            (
                "ecm_broker_heap_bytes",
                "Heap the broker has allocated (absent while its own count is not believable).",
                _believable(figures.values.get(HEAP)),
            ),
        )
        for name, documentation, value in gauges:
            if value is not None:
                family = GaugeMetricFamily(name, documentation)
                family.add_metric([], value)
                yield family
        dropped = figures.values.get(DROPPED)
        if dropped is not None:
            counter = CounterMetricFamily(
                "ecm_broker_messages_dropped",
                "Messages the broker dropped since it started, a full client queue "
                "(max_queued_messages or max_queued_bytes) among the causes.",
            )
            counter.add_metric([], dropped)
            yield counter
