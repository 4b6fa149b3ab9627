"""The handsets' uplink to the broker: QoS 1 publishes, pipelined, kept until receipted.

The broker only lets a handset publish under its own topic, as the certificate it connected with
says (docs/identity.md). So with `device_identity` every simulated handset gets a connection of
its own with its own certificate, opened on its first publish, as a phone would connect.

Protocol v1.1: an event leaves the outbox when ingest's receipt names it, not on the broker's
PUBACK (a broker crash or a full queue loses PUBACKed messages). Each connection keeps a
persistent session subscribed to its receipts topic, so a receipt sent while the handset was
offline arrives when it reconnects; what stays unreceipted is sent again by the retry rule
(firmware_sim.receipts). With `receipts=False` the uplink behaves as a v1 handset.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from firmware_sim.receipts import RECEIPT_TIMEOUT_S, ResendSchedule
from gateway.pki.identity import CLIENT_ID_PREFIX, TlsIdentity
from gateway.protocol import (
    BadReceipt,
    ReceiptEntry,
    carer_message,
    device_from_topic,
    parse_receipt,
    receipts_topic,
)

if TYPE_CHECKING:
    from firmware_sim.handset import SignedVisitEvent
    from firmware_sim.outbox import Outbox

log = logging.getLogger("firmware_sim")

QOS_AT_LEAST_ONCE = 1
# Unacknowledged publishes paho keeps on the wire at once; more are queued client-side. The
# broker is configured for the same (gateway.broker.BrokerConfig.max_inflight_messages).
MAX_INFLIGHT = 1000
# The handset's clock at transmission, an MQTT v5 user property (docs/protocol.md, clocks).
# MQTT 3.1.1 has no properties: a handset on the cluster (which refuses MQTT 5) sends none.
SENT_AT_PROPERTY = "sent-at"
MQTT_VERSIONS = {"5": MQTTProtocolVersion.MQTTv5, "3.1.1": MQTTProtocolVersion.MQTTv311}
# Acknowledged events leave the outbox in batches: one synced delete per this many PUBACKs.
CONFIRM_EVERY = 500
NO_MATCHING_SUBSCRIBERS = 0x10
# A handset's persistent session outlives a week switched off (the broker's own limit is 7 days).
SESSION_EXPIRY_S = 7 * 24 * 3600
# How often the housekeeping thread clears receipted events and resends what is due.
HOUSEKEEPING_S = 0.2
ALL_RECEIPTS = "ecm/v1/devices/+/receipts"
SIM_PREFIX = f"{CLIENT_ID_PREFIX}sim-"


class UplinkError(RuntimeError):
    pass


class Uplink:
    """A paho-mqtt 2.x client (MQTT v5) with a publish counter and a PUBACK counter.

    `publish` returns at once; `flush` waits until the broker has acknowledged everything
    published so far. A PUBACK with a failure reason code counts as `refused`, not `acked`.

    `tls` is one identity for the whole uplink; `device_identity` maps a device id to its own
    identity and gives each device its own connection (one paho client each).

    `mqtt_version` "5" (Mosquitto) or "3.1.1" (the NATS cluster, which refuses 5).
    `other_ports`: the cluster's other nodes on the same host; after a lost connection the
    next reconnect goes to the next node, as a handset given several broker addresses does.
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
        outbox: Outbox | None = None,
        clock: Callable[[], datetime] | None = None,
        mqtt_version: str = "5",
        other_ports: Sequence[int] = (),
        receipts: bool = True,
        receipt_timeout_s: float = RECEIPT_TIMEOUT_S,
        on_feedback: Callable[[uuid.UUID, str], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.protocol = MQTT_VERSIONS[mqtt_version]
        self._ports = [port, *(p for p in other_ports if p != port)]
        self.keepalive = keepalive
        self.client_id = client_id or f"{CLIENT_ID_PREFIX}sim-{uuid.uuid4().hex[:12]}"
        self._max_inflight = max_inflight
        self._device_identity = device_identity
        self.receipts = receipts
        self.schedule = ResendSchedule(receipt_timeout_s)
        # What the carer is shown per event ("visit counted", or why not), once receipted.
        self.feedback: dict[uuid.UUID, str] = {}
        self._on_feedback = on_feedback
        self.resent = 0
        self._housekeeper: threading.Thread | None = None
        self._closing = threading.Event()
        self._client = self._new_client(self.client_id, tls)
        self._per_device: dict[str, mqtt.Client] = {}
        self._lock = threading.Condition()
        self._connected = threading.Event()
        self._connect_refused: str | None = None
        self._sent = 0
        self._acked = 0
        self._refused = 0
        self._unrouted = 0
        self.outbox = outbox
        # The handset's own clock; a test sets one that is wrong.
        self.clock = clock or (lambda: datetime.now(UTC))
        # (connection, packet id) -> event id of outbox entries in flight, and those the broker
        # has acked (packet ids are per connection).
        self._in_flight: dict[tuple[int, int], uuid.UUID | None] = {}
        self._acked_early: dict[tuple[int, int], bool] = {}
        self._to_confirm: list[uuid.UUID] = []

    def _new_client(self, client_id: str, tls: TlsIdentity | None) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=self.protocol,
            # MQTT 3.1.1's persistent session (MQTT 5 asks for one at connect, below).
            clean_session=False
            if self.receipts and self.protocol == MQTTProtocolVersion.MQTTv311
            else None,
        )
        # Flow control is ours (see publish): paho's own in-flight counter double-counts the
        # messages it resends after a reconnect (paho-mqtt 2.2), and once over the limit it
        # never publishes a queued message again.
        client.max_inflight_messages_set(0)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_message = self._on_receipt
        if len(self._ports) > 1:
            client.on_disconnect = self._next_node
            # A node that is down refuses the reconnect: try the next one after it.
            client.on_connect_fail = lambda c, userdata: self._move(c)
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
    def unrouted(self) -> int:
        """PUBACKs saying no subscriber took the message (kept in the outbox for a resend)."""
        with self._lock:
            return self._unrouted

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
        if self.receipts and self.protocol == MQTTProtocolVersion.MQTTv5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
            client.connect(
                self.host,
                self.port,
                keepalive=self.keepalive,
                clean_start=False,
                properties=properties,
            )
        else:
            client.connect(self.host, self.port, keepalive=self.keepalive)
        client.loop_start()
        if self.receipts and self._housekeeper is None:
            self._housekeeper = threading.Thread(
                target=self._housekeeping, name="uplink-receipts", daemon=True
            )
            self._housekeeper.start()
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
            client = self._new_client(f"{SIM_PREFIX}{device_id}", self._device_identity(device_id))
            self._per_device[device_id] = client
            self._connect(client, 10.0)
        return client

    def keep(self, events: Sequence[SignedVisitEvent]) -> None:
        """Write events to the outbox (if any) before they are published."""
        if self.outbox is not None:
            self.outbox.keep(events)

    def publish(
        self,
        topic: str,
        payload: str | bytes,
        event_id: uuid.UUID | None = None,
        clock_behind: timedelta | None = None,
    ) -> None:
        """Publish at QoS 1; an `event_id` kept in the outbox leaves it once receipted (with
        `receipts=False`, as in v1, once the broker acks).
        `clock_behind`: this handset's clock is that far behind the uplink's (its sent-at says so).

        Waits while `max_inflight` publishes lack their PUBACK (back-pressure, as the broker's
        receive window would apply anyway).
        """
        with self._lock:
            while self._sent - self._acked - self._refused >= self._max_inflight:
                self._lock.wait(1.0)
        properties: Properties | None = None
        if self.protocol == MQTTProtocolVersion.MQTTv5:
            properties = Properties(PacketTypes.PUBLISH)
            sent_at = self.clock() - (clock_behind or timedelta(0))
            properties.UserProperty = (SENT_AT_PROPERTY, sent_at.isoformat())
        client = self._client_for(topic)
        if self.receipts and event_id is not None:
            data = payload.encode("ascii") if isinstance(payload, str) else payload
            self.schedule.sent(event_id, topic, data, time.monotonic())
        info = client.publish(topic, payload, qos=QOS_AT_LEAST_ONCE, properties=properties)
        # NO_CONN still queues a QoS 1 message for after the reconnect; anything else is lost.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise UplinkError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        with self._lock:
            self._sent += 1
            # The PUBACK may already have come in on the network thread (paho calls back while
            # holding its own locks, so publishing under ours could deadlock).
            key = (id(client), info.mid)
            # With receipts, a PUBACK removes nothing: the receipt does (_on_receipt).
            tracked = None if self.receipts else event_id
            early = self._acked_early.pop(key, None)
            if early is None:
                self._in_flight[key] = tracked
            elif early and tracked is not None:
                self._to_confirm.append(tracked)
            confirm = len(self._to_confirm) >= CONFIRM_EVERY
        if confirm:
            self.confirm_acked()

    def resend_outbox(self) -> int:
        """Publish again, with the same bytes, everything the outbox still holds."""
        if self.outbox is None:
            return 0
        entries = self.outbox.pending()
        for entry in entries:
            self.publish(entry.topic, entry.payload, entry.event_id)
        return len(entries)

    @property
    def receipted(self) -> int:
        """Events receipted so far (each counted once)."""
        with self._lock:
            return len(self.feedback)

    @property
    def awaiting_receipt(self) -> int:
        return len(self.schedule)

    def wait_receipted(self, timeout: float = 60.0) -> bool:
        """Wait until every event published so far has its receipt (resending as the retry
        rule says meanwhile); then clear them from the outbox."""
        done = self.schedule.wait_empty(timeout)
        self.confirm_acked()
        return done

    def confirm_acked(self) -> int:
        """Remove what is done with from the outbox: receipted (v1.1) or PUBACKed (v1)."""
        with self._lock:
            acked, self._to_confirm = self._to_confirm, []
        if self.outbox is None:
            return 0
        return self.outbox.confirm(acked)

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every publish so far has its PUBACK.

        True when all were acknowledged; False when `timeout` passes first or any was refused.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._acked + self._refused < self._sent:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            done = self._acked + self._refused >= self._sent and self._refused == 0
        self.confirm_acked()
        return done

    def close(self) -> None:
        self._closing.set()
        if self._housekeeper is not None:
            self._housekeeper.join(timeout=5)
        for client in [self._client, *self._per_device.values()]:
            client.disconnect()
            client.loop_stop()
        self.confirm_acked()

    def _housekeeping(self) -> None:
        """Clear receipted events from the outbox and resend those whose wait is over."""
        while not self._closing.wait(HOUSEKEEPING_S):
            try:
                self.confirm_acked()
                for event_id, waiting in self.schedule.due(time.monotonic()):
                    if self._closing.is_set():
                        return
                    self.resent += 1
                    self.publish(waiting.topic, waiting.payload, event_id)
            except Exception:  # a closed outbox or client at shutdown; the next pass retries
                if self._closing.is_set():
                    return
                log.exception("receipt housekeeping failed; trying again")

    def _on_receipt(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            entries = parse_receipt(bytes(message.payload))
        except BadReceipt:
            return  # not from ingest (it cannot be: only ingest may publish there); ignore
        # Only what this uplink sent and still waited for: the shared (operator) uplink also
        # hears other handsets' receipts, and a resend's second receipt changes nothing.
        mine = self.schedule.receipted([entry.event_id for entry in entries])
        news: list[ReceiptEntry] = [entry for entry in entries if entry.event_id in mine]
        with self._lock:
            for entry in news:
                self.feedback[entry.event_id] = carer_message(entry)
            self._to_confirm.extend(entry.event_id for entry in news)
        if self._on_feedback is not None:
            for entry in news:
                self._on_feedback(entry.event_id, carer_message(entry))

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
        elif self.receipts:
            # Every connect: a resumed session has the subscription already, a new one needs
            # it. The shared (operator) uplink reads every device's receipts.
            topic = (
                ALL_RECEIPTS
                if self._device_identity is None
                else receipts_topic(client._client_id.decode().removeprefix(SIM_PREFIX))
            )
            client.subscribe(topic, qos=QOS_AT_LEAST_ONCE)
            self.schedule.reconnected(time.monotonic())
        self._connected.set()

    def _next_node(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        """Reconnect to the next node of the cluster (paho reconnects to client.port)."""
        if not getattr(reason, "is_failure", True):
            return  # our own disconnect
        self._move(client)

    def _move(self, client: mqtt.Client) -> None:
        at = self._ports.index(client.port) if client.port in self._ports else -1
        # paho's `port` setter refuses while its state still says connected, which is the
        # state it calls back in after a lost link; its reconnect reads this attribute.
        client._port = self._ports[(at + 1) % len(self._ports)]

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        # "No matching subscribers" (MQTT 5 reason 0x10) is a success code: the broker took
        # the message, but no ingest session holds it (ingest not yet resubscribed after a
        # broker restart, say), so it went nowhere. Counted as acked, kept in the outbox.
        routed = not reason_code.is_failure and reason_code.value != NO_MATCHING_SUBSCRIBERS
        key = (id(client), mid)
        with self._lock:
            if key in self._in_flight:
                event_id = self._in_flight.pop(key)
                if event_id is not None and routed:
                    self._to_confirm.append(event_id)
            else:
                self._acked_early[key] = routed
            if reason_code.is_failure:
                self._refused += 1
            else:
                self._acked += 1
                if not routed:
                    self._unrouted += 1
            self._lock.notify_all()
