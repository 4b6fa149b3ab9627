"""Where a worker takes its events from, chosen by settings (ECM_INGEST_TRANSPORT).

Both transports hand the worker lists of ReceivedMessage through `inbox` and take back the
messages whose batch has committed through `ack`; the worker's verify, store and
ack-after-commit path is the same for either.

- `mqtt` (default, one Mosquitto): a persistent session on the MQTT shared subscription
  (ingest/consumer.py).
- `jetstream` (the cluster): a durable pull consumer with explicit acks on the events stream
  (ingest/jetstream.py); any number of workers on any host share it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Sequence
from typing import Protocol

from core.settings import Settings
from ingest.verify import ReceivedMessage


class Transport(Protocol):
    inbox: queue.Queue[list[ReceivedMessage]]
    connected: threading.Event

    def start(self) -> None: ...

    def close_intake(self) -> None:
        """Deliver nothing more to the worker (it is draining before a stop)."""

    def stop(self) -> None: ...

    def ack(self, messages: Iterable[ReceivedMessage]) -> int:
        """Acknowledge messages whose batch has committed; returns how many were sent."""

    def publish_receipts(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Send handsets their receipts, (topic, payload) each, at MQTT QoS 1."""


def make_transport(settings: Settings, worker_index: int = 0) -> Transport:
    if settings.ingest_transport == "jetstream":
        from ingest.jetstream import JetStreamConsumer

        return JetStreamConsumer(settings, worker_index)
    from ingest.consumer import Consumer

    return Consumer(settings, worker_index)
