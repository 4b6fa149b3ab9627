"""The handsets' side of receipts for the load tests: one subscriber to every device's receipts.

One MQTT connection with the dev/test operator identity (which may read under ecm/v1/) stands
in for the phones' receipt subscriptions: the broker routes each receipt once either way. It
records when the first receipt for each event arrived, and its outcome. Payloads are kept as
they arrive and read only when asked, so the subscriber (which shares the machine with ingest)
does as little as it can while a phase is being timed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from core.settings import Settings
from gateway.pki.identity import service_identity
from gateway.protocol import BadReceipt, Outcome, parse_receipt

ALL_RECEIPTS = "ecm/v1/devices/+/receipts"


class ReceiptListener:
    def __init__(self, settings: Settings) -> None:
        self._received_at: dict[uuid.UUID, float] = {}
        self._outcomes: dict[uuid.UUID, Outcome] = {}
        # Appended by paho's network thread, taken from the left by readers: a deque needs no
        # lock for that.
        self._arrived: deque[tuple[float, bytes | bytearray]] = deque()
        self.messages = 0
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"ecm-bench-receipts-{uuid.uuid4().hex[:6]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        service_identity(settings, "operator").apply(self._client)
        self._client.on_connect = lambda c, *_: c.subscribe(ALL_RECEIPTS, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(20):
            raise RuntimeError("no SUBACK for the receipts subscription")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._arrived.append((time.time(), message.payload))

    def _read(self) -> None:
        with self._lock:
            while self._arrived:
                at, payload = self._arrived.popleft()
                try:
                    entries = parse_receipt(bytes(payload))
                except BadReceipt:
                    continue
                self.messages += 1
                for entry in entries:
                    self._received_at.setdefault(entry.event_id, at)
                    self._outcomes.setdefault(entry.event_id, entry.outcome)

    @property
    def received_at(self) -> dict[uuid.UUID, float]:
        self._read()
        return self._received_at

    @property
    def outcomes(self) -> dict[uuid.UUID, Outcome]:
        self._read()
        return self._outcomes

    def count(self, event_ids: list[uuid.UUID]) -> int:
        received = self.received_at
        return sum(1 for event_id in event_ids if event_id in received)

    def wait_for(self, event_ids: list[uuid.UUID], timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while (got := self.count(event_ids)) < len(event_ids) and time.monotonic() < deadline:
            time.sleep(0.2)
        return got

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
