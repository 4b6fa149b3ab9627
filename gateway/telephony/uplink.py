"""The bridge's connections to the broker: one per bridge device, as a handset's would be.

The broker lets a device publish only on its own topic, as its certificate says, so each
provider's bridge device connects with its own certificate (docs/identity.md). A publish is
sent when the broker's PUBACK says it was routed; "no matching subscribers" (MQTT 5 reason
0x10: no ingest session to hold it) is not, and the event is sent again soon. Either way the
event leaves the bridge's outbox only on ingest's receipt (protocol v1.1): each connection keeps
a persistent session subscribed to its device's receipts topic and hands receipts to
`on_receipt`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.pki.identity import CLIENT_ID_PREFIX, TlsIdentity
from gateway.protocol import BadReceipt, ReceiptEntry, events_topic, parse_receipt, receipts_topic

NO_MATCHING_SUBSCRIBERS = 0x10
SENT_AT_PROPERTY = "sent-at"
SESSION_EXPIRY_S = 7 * 24 * 3600
OnReceipt = Callable[[str, list[ReceiptEntry]], None]


class _Connection:
    def __init__(
        self,
        host: str,
        port: int,
        device_id: str,
        identity: TlsIdentity,
        on_receipt: OnReceipt | None = None,
    ) -> None:
        self.device_id = device_id
        self._on_receipt = on_receipt
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{CLIENT_ID_PREFIX}{device_id}",
            protocol=mqtt.MQTTv5,
        )
        identity.apply(self._client)
        self._client.on_connect = self._on_connect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._changed = threading.Condition()
        self._connected = False
        self._refused: str | None = None
        # packet id -> routed? (None while waiting); ids given up on, whose late PUBACK must
        # not be taken for the next publish that reuses the id.
        self._results: dict[int, bool | None] = {}
        self._abandoned: set[int] = set()
        # A persistent session: receipts sent while the bridge was away wait for it.
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect_async(
            host, port, keepalive=30, clean_start=False, properties=properties
        )
        self._client.loop_start()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason: ReasonCode,
        props: object,
    ) -> None:
        if not reason.is_failure:
            client.subscribe(receipts_topic(self.device_id), qos=1)
        with self._changed:
            self._connected = not reason.is_failure
            self._refused = str(reason) if reason.is_failure else None
            self._changed.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            entries = parse_receipt(bytes(message.payload))
        except BadReceipt:
            return
        if self._on_receipt is not None:
            self._on_receipt(self.device_id, entries)

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode, props: object
    ) -> None:
        routed = not reason.is_failure and reason.value != NO_MATCHING_SUBSCRIBERS
        with self._changed:
            if mid in self._abandoned:
                self._abandoned.discard(mid)
                return
            self._results[mid] = routed
            self._changed.notify_all()

    def publish(self, payload: str, sent_at: datetime, timeout_s: float) -> bool:
        """QoS 1; True once the broker acknowledged and routed it within `timeout_s`."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._connected, timeout=timeout_s):
                return False
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = (SENT_AT_PROPERTY, sent_at.isoformat())
        info = self._client.publish(
            events_topic(self.device_id), payload, qos=1, properties=properties
        )
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            return False
        with self._changed:
            # The PUBACK may already be in (paho calls back on its network thread).
            self._results.setdefault(info.mid, None)
            done = self._changed.wait_for(
                lambda: self._results.get(info.mid) is not None, timeout_s
            )
            routed = self._results.pop(info.mid, None)
            if not done:
                self._abandoned.add(info.mid)
            return bool(routed)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class BridgeUplink:
    """Connections opened on first use, one per bridge device, kept for the process's life."""

    def __init__(
        self,
        host: str,
        port: int,
        identity: Callable[[str], TlsIdentity],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._host, self._port = host, port
        self._identity = identity
        # The transmission clock (MQTT `sent-at`) is always the real one.
        self._clock = clock or (lambda: datetime.now(UTC))
        self._connections: dict[str, _Connection] = {}
        self._lock = threading.Lock()
        # Set by the outbox publisher: receipts release its events (gateway.telephony.publisher).
        self.on_receipt: OnReceipt | None = None

    def publish(self, device_id: str, jws: str, timeout_s: float = 10.0) -> bool:
        with self._lock:
            connection = self._connections.get(device_id)
            if connection is None:
                connection = _Connection(
                    self._host,
                    self._port,
                    device_id,
                    self._identity(device_id),
                    lambda device, entries: self.on_receipt and self.on_receipt(device, entries),
                )
                self._connections[device_id] = connection
        return connection.publish(jws, self._clock(), timeout_s)

    def close(self) -> None:
        with self._lock:
            connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            connection.close()
