"""The handsets' side of receipts for the load tests: one subscriber to every device's receipts.

One MQTT connection with the dev/test operator identity (which may read under ecm/v1/) stands
in for the phones' receipt subscriptions: the broker routes each receipt once either way. It
records when the first receipt for each event arrived, and its outcome.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from core.settings import Settings
from gateway.pki.identity import service_identity
from gateway.protocol import BadReceipt, Outcome, parse_receipt

ALL_RECEIPTS = "ecm/v1/devices/+/receipts"


class ReceiptListener:
    def __init__(self, settings: Settings) -> None:
        self.received_at: dict[uuid.UUID, float] = {}
        self.outcomes: dict[uuid.UUID, Outcome] = {}
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
        now = time.time()
        try:
            entries = parse_receipt(bytes(message.payload))
        except BadReceipt:
            return
        with self._lock:
            self.messages += 1
            for entry in entries:
                self.received_at.setdefault(entry.event_id, now)
                self.outcomes.setdefault(entry.event_id, entry.outcome)

    def count(self, event_ids: list[uuid.UUID]) -> int:
        with self._lock:
            return sum(1 for event_id in event_ids if event_id in self.received_at)

    def wait_for(self, event_ids: list[uuid.UUID], timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while (got := self.count(event_ids)) < len(event_ids) and time.monotonic() < deadline:
            time.sleep(0.2)
        return got

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
