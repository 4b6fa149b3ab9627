"""Wait until at least one ingest worker is subscribed (its retained status says online)."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from core.settings import Settings
from gateway.pki.identity import service_identity
from ingest.consumer import STATUS_TOPICS


def wait_for_ingest(settings: Settings, timeout_s: float = 30.0) -> bool:
    online = threading.Event()

    def _on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            if json.loads(message.payload).get("state") == "online":
                online.set()
        except ValueError:
            pass

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"ecm-readiness-{uuid.uuid4().hex[:8]}"
    )
    service_identity(settings, "ingest").apply(client)
    client.on_message = _on_message
    client.on_connect = lambda c, *_: c.subscribe(STATUS_TOPICS, qos=1)
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    try:
        return online.wait(timeout_s)
    finally:
        client.loop_stop()
        client.disconnect()
