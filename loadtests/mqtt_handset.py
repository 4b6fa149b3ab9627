"""MQTT as a handset speaks it, for the load tests: one connection per simulated phone.

All connection setup is in `connect_handset`: TLS with the handset's own client certificate,
as the broker requires (docs/identity.md).
"""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.pki.identity import CLIENT_ID_PREFIX, TlsIdentity

QOS_AT_LEAST_ONCE = 1


class HandsetConnection:
    """A paho client that publishes one QoS 1 message at a time and waits for its PUBACK."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self._acked = threading.Condition()
        self._done: set[int] = set()
        client.on_publish = self._on_publish

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: object, props: object
    ) -> None:
        with self._acked:
            self._done.add(mid)
            self._acked.notify_all()

    def publish(self, topic: str, payload: str, timeout_s: float = 10.0) -> float:
        """Publish and wait for the broker's PUBACK; returns the round trip in milliseconds."""
        started = time.perf_counter()
        info = self.client.publish(topic, payload, qos=QOS_AT_LEAST_ONCE)
        deadline = started + timeout_s
        with self._acked:
            while info.mid not in self._done:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError(f"no PUBACK for {topic} within {timeout_s}s")
                self._acked.wait(remaining)
            self._done.discard(info.mid)
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def connect_handset(
    host: str, port: int, device_id: str, identity: TlsIdentity, timeout_s: float = 10.0
) -> HandsetConnection:
    """Connect as the handset `device_id` (MQTT v5, clean start, its own certificate)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{CLIENT_ID_PREFIX}{device_id}-load-{uuid.uuid4().hex[:6]}",
        protocol=mqtt.MQTTv5,
    )
    identity.apply(client)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    connection = HandsetConnection(client)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not connected.wait(timeout_s):
        connection.close()
        raise TimeoutError(f"broker {host}:{port} did not accept the connection")
    return connection
