"""The handsets' uplink to the broker: QoS 1 publishes, pipelined, counted as the broker acks.

The broker only lets a handset publish under its own topic, as the certificate it connected with
says (docs/identity.md). So with `device_identity` every simulated handset gets a connection of
its own with its own certificate, opened on its first publish, as a phone would connect.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from gateway.pki.identity import CLIENT_ID_PREFIX, TlsIdentity
from gateway.protocol import device_from_topic

QOS_AT_LEAST_ONCE = 1
# Unacknowledged publishes paho keeps on the wire at once; more are queued client-side. The
# broker is configured for the same (gateway.broker.BrokerConfig.max_inflight_messages).
MAX_INFLIGHT = 1000


class UplinkError(RuntimeError):
    pass


class Uplink:
    """A paho-mqtt 2.x client (MQTT v5) with a publish counter and a PUBACK counter.

    `publish` returns at once; `flush` waits until the broker has acknowledged everything
    published so far. A PUBACK with a failure reason code counts as `refused`, not `acked`.

    `tls` is one identity for the whole uplink; `device_identity` maps a device id to its own
    identity and gives each device its own connection (one paho client each).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str | None = None,
        max_inflight: int = MAX_INFLIGHT,
        keepalive: int = 30,
        tls: TlsIdentity | None = None,
        device_identity: Callable[[str], TlsIdentity] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.client_id = client_id or f"{CLIENT_ID_PREFIX}sim-{uuid.uuid4().hex[:12]}"
        self._max_inflight = max_inflight
        self._device_identity = device_identity
        self._client = self._new_client(self.client_id, tls)
        self._per_device: dict[str, mqtt.Client] = {}
        self._lock = threading.Condition()
        self._connected = threading.Event()
        self._connect_refused: str | None = None
        self._sent = 0
        self._acked = 0
        self._refused = 0

    def _new_client(self, client_id: str, tls: TlsIdentity | None) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(self._max_inflight)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        if tls is not None:
            tls.apply(client)
        return client

    @property
    def sent(self) -> int:
        return self._sent

    @property
    def acked(self) -> int:
        with self._lock:
            return self._acked

    @property
    def refused(self) -> int:
        with self._lock:
            return self._refused

    def connect(self, timeout: float = 10.0) -> Uplink:
        if self._device_identity is None:
            self._connect(self._client, timeout)
        return self

    def _connect(self, client: mqtt.Client, timeout: float) -> None:
        self._connected.clear()
        client.connect(self.host, self.port, keepalive=self.keepalive)
        client.loop_start()
        if not self._connected.wait(timeout):
            self.close()
            raise UplinkError(f"no CONNACK from {self.host}:{self.port} within {timeout}s")
        if self._connect_refused is not None:
            self.close()
            raise UplinkError(f"broker refused the connection: {self._connect_refused}")

    def _client_for(self, topic: str) -> mqtt.Client:
        if self._device_identity is None:
            return self._client
        device_id = device_from_topic(topic)
        client = self._per_device.get(device_id)
        if client is None:
            client = self._new_client(
                f"{CLIENT_ID_PREFIX}sim-{device_id}", self._device_identity(device_id)
            )
            self._per_device[device_id] = client
            self._connect(client, 10.0)
        return client

    def publish(self, topic: str, payload: str | bytes) -> None:
        info = self._client_for(topic).publish(topic, payload, qos=QOS_AT_LEAST_ONCE)
        # NO_CONN still queues a QoS 1 message for after the reconnect; anything else is lost.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise UplinkError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        with self._lock:
            self._sent += 1

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every publish so far has its PUBACK.

        True when all were acknowledged; False when `timeout` passes first or any was refused.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._acked + self._refused < self._sent:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return self._refused == 0

    def close(self) -> None:
        for client in [self._client, *self._per_device.values()]:
            client.disconnect()
            client.loop_stop()

    def __enter__(self) -> Uplink:
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            self._connect_refused = str(reason_code)
        self._connected.set()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        with self._lock:
            # "No matching subscribers" is a success code: the broker took the message.
            if reason_code.is_failure:
                self._refused += 1
            else:
                self._acked += 1
            self._lock.notify_all()
