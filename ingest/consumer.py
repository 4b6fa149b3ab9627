"""The MQTT side of an ingest worker: a persistent session on the shared subscription.

Messages are handed to the worker loop through a queue and acknowledged by `ack()` only when
the worker says their batch has committed (paho-mqtt manual acknowledgement).
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK, PUBLISH
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from core.settings import Settings
from gateway.pki.identity import service_identity, session_client_id
from gateway.protocol import events_subscription
from ingest import metrics
from ingest.clock import SENT_AT_PROPERTY, parse_sent_at
from ingest.publish_packet import Publish, parse_publish
from ingest.verify import ReceivedMessage

log = logging.getLogger("ecm.ingest")

SESSION_EXPIRY_S = 7 * 24 * 3600
STATUS_TOPICS = "ecm/v1/ingest/+/status"


_PUBACK = struct.Struct("!BBH")
_U16 = struct.Struct("!H")
_PUBLISH_QOS1 = bytes([PUBLISH | 0x02])


def _remaining_length(n: int) -> bytes:
    """MQTT's variable-length integer (section 1.5.5)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


# Packets read per wake-up of paho's network thread before it selects again.
READ_PACKETS_PER_WAKEUP = 1000
# Bytes asked of the (TLS) socket per read: a TLS record holds up to 16 KiB.
RECV_CHUNK = 64 * 1024


class _SubscriberClient(mqtt.Client):
    """paho-mqtt with a receive path fit for a subscriber that takes thousands of events/s.

    - paho reads one packet per select() when it has nothing of its own in flight, as for a
      subscriber that acks by hand: read what the socket already holds instead.
    - paho reads a packet in three or more socket reads (command byte, each length byte,
      body), each a call into the TLS layer: read the socket in large chunks and serve
      paho's small reads from them.
    - QoS 1 PUBLISHes are read by `parse_publish` and handed to `deliver` directly, without
      paho's MQTTMessage, properties object and callback matching; anything else goes
      through paho as before.

    Private paho-mqtt 2.1-2.2 methods are overridden, so pyproject.toml pins it below 2.3;
    tests/ingest/test_consumer_wire.py drives this against the real broker.
    """

    def __init__(self, *args: Any, deliver: Callable[[Publish], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deliver = deliver
        self._read_socket: object | None = None
        self._read_buffer = b""
        self._read_at = 0
        self.after_read: Callable[[], None] = lambda: None

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._sock is not self._read_socket:
            # A new connection: nothing buffered from the old one may be read as its data.
            self._read_socket, self._read_buffer, self._read_at = self._sock, b"", 0
        if self._read_at >= len(self._read_buffer):
            data = super()._sock_recv(RECV_CHUNK)
            if not data:
                return data
            self._read_buffer, self._read_at = data, 0
        start = self._read_at
        self._read_at = min(start + bufsize, len(self._read_buffer))
        return self._read_buffer[start : self._read_at]

    def _buffered(self) -> bool:
        return self._sock is self._read_socket and self._read_at < len(self._read_buffer)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        try:
            packets = 0
            while True:
                if self._sock is None:
                    return MQTTErrorCode.MQTT_ERR_NO_CONN
                rc = self._packet_read()
                if rc > 0:
                    return self._loop_rc_handle(rc)
                if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                    break
                packets += 1
                # select() only sees the socket, so what is buffered here is read now.
                if packets >= READ_PACKETS_PER_WAKEUP and not self._buffered():
                    break
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        finally:
            self.after_read()

    def _handle_publish(self) -> MQTTErrorCode:
        publish = None
        if self._protocol == MQTTProtocolVersion.MQTTv5:  # parse_publish reads v5 properties
            publish = parse_publish(self._in_packet["command"], self._in_packet["packet"])
        if publish is None:
            return super()._handle_publish()
        # With manual acknowledgement paho does nothing more for a QoS 1 PUBLISH.
        self._deliver(publish)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        """The broker's PUBACK of a receipt names no message paho tracks: skip paho's decoding
        (a reason code and a properties object per receipt) and drop it."""
        packet = self._in_packet["packet"]
        if cmd == "PUBACK" and len(packet) >= 2:
            mid = (packet[0] << 8) | packet[1]
            with self._out_message_mutex:
                tracked = mid in self._out_messages
            if not tracked:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._handle_pubackcomp(cmd)

    def publish_all(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """QoS 1 PUBLISHes (MQTT 5, no properties) as one queued write: a batch's receipts.

        paho's publish() builds a message object, takes locks, wakes the network thread and
        tracks the PUBACK per message, which for a few hundred receipts a batch cost ingest
        about a third more CPU per event. Packet ids come from paho's own counter, so they
        never clash with its messages; their PUBACKs name no message paho tracks and are
        dropped after parsing. Not resent after a lost connection: the handset resends an
        event without a receipt and is receipted then (docs/protocol.md, retry rule).
        """
        if not messages:
            return
        packets = []
        for topic, payload in messages:
            name = topic.encode()
            body = b"".join(
                (_U16.pack(len(name)), name, _U16.pack(self._mid_generate()), b"\x00", payload)
            )
            packets.append(_PUBLISH_QOS1 + _remaining_length(len(body)) + body)
        # Queued as PUBACK: paho acts on a written PUBLISH only at QoS 0 (an `info` we have not).
        self._packet_queue(PUBACK, b"".join(packets), 0, 1)

    def ack_all(self, mids: Sequence[int]) -> None:
        """The PUBACKs of a committed batch as one queued write (MQTT 3.1.1/5 section 3.4).

        paho's ack() queues one packet and wakes the network thread once per message; a batch
        of 500 would be 500 wake-ups and 500 socket writes.
        """
        if mids:
            data = b"".join(_PUBACK.pack(PUBACK, 2, mid) for mid in mids)
            self._packet_queue(PUBACK, data, 0, 0)


def status_topic(client_id: str) -> str:
    return f"ecm/v1/ingest/{client_id}/status"


def _status(state: str) -> bytes:
    return json.dumps({"state": state, "at": datetime.now(UTC).isoformat()}).encode()


class Consumer:
    def __init__(self, settings: Settings, worker_index: int = 0) -> None:
        # Messages arrive in lists, one per read of the socket: one hand-over (and one wake-up
        # of the worker thread) per few hundred messages rather than per message.
        self.inbox: queue.Queue[list[ReceivedMessage]] = queue.Queue()
        self._arrivals: list[ReceivedMessage] = []
        self.connected = threading.Event()
        self._settings = settings
        # Bumped on every CONNACK. Packet ids are per connection: after a reconnect the broker
        # resends what was unacknowledged and may reuse an old id for a new message, so an ack
        # for a message of an earlier connection is skipped (its redelivery is acked instead).
        self._connection = 0
        # Held while acks are queued and while the connection number changes, so a batch's
        # acks never go out on a connection that did not deliver its messages.
        self._connection_lock = threading.Lock()
        # Set when the worker is draining: new deliveries are left unacknowledged with the
        # broker, which redelivers them to the session later.
        self._intake_closed = threading.Event()
        # A stable client id per worker slot lets a restarted worker resume its persistent
        # session, so messages the broker queued for it while it was down are not stranded.
        self.client_id = session_client_id(
            settings, f"ingest-{socket.gethostname()}-{worker_index}"
        )
        self._client = _SubscriberClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
            deliver=self._on_publish_packet,
        )
        self._client.after_read = self._hand_over
        # Mutual TLS: the broker knows this worker by its svc:ingest certificate.
        service_identity(settings, "ingest").apply(self._client)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        # Birth and will: others (the demo, the tests, operators) see whether this worker is
        # subscribed without racing its start-up.
        self._client.will_set(status_topic(self.client_id), _status("offline"), qos=1, retain=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        # Never more unacknowledged messages in flight than a couple of batches.
        properties.ReceiveMaximum = self._settings.ingest_receive_maximum or max(
            2 * self._settings.ingest_batch_size, 100
        )
        self._client.connect_async(
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            keepalive=30,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def close_intake(self) -> None:
        self._intake_closed.set()

    def stop(self) -> None:
        info = self._client.publish(
            status_topic(self.client_id), _status("offline"), qos=1, retain=True
        )
        info.wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, messages: Iterable[ReceivedMessage]) -> int:
        """Acknowledge committed messages; returns how many went to the broker."""
        mids = []
        skipped = 0
        with self._connection_lock:
            for message in messages:
                if message.connection == self._connection and message.qos == 1:
                    mids.append(message.mid)
                else:
                    skipped += 1
            self._client.ack_all(mids)
        metrics.ACKED.inc(len(mids))
        metrics.ACKS_OUTSTANDING.dec(len(mids) + skipped)
        return len(mids)

    def publish_receipts(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """QoS 1 on ingest's own connection, a batch's receipts in one write."""
        self._client.publish_all(messages)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused connection: %s", reason)
            return
        with self._connection_lock:
            self._connection += 1
        # Subscribing on every connect is harmless with a resumed session and necessary
        # without one.
        topic = events_subscription(self._settings.ingest_share_group)
        client.subscribe(topic, qos=1)
        log.info("connected as %s, subscribing to %s", self.client_id, topic)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("subscription refused: %s", reasons)
            return
        client.publish(status_topic(self.client_id), _status("online"), qos=1, retain=True)
        self.connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self.connected.clear()
        with self._connection_lock:
            # Whatever the lost connection delivered is stale now: the broker resends it.
            self._connection += 1
        log.warning("disconnected from broker: %s", reason)

    def _on_publish_packet(self, publish: Publish) -> None:
        if self._intake_closed.is_set():
            return
        self._arrivals.append(
            ReceivedMessage(
                mid=publish.packet_id,
                topic=publish.topic,
                payload=publish.payload,
                received_at=datetime.now(UTC),
                qos=publish.qos,
                sent_at=parse_sent_at(publish.sent_at) if publish.sent_at else None,
                connection=self._connection,
            )
        )

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        """What paho decoded itself (QoS 0, unusual properties)."""
        sent_at = None
        for name, value in getattr(message.properties, "UserProperty", None) or ():
            if name == SENT_AT_PROPERTY:
                sent_at = value
        self._on_publish_packet(
            Publish(message.topic, message.mid, message.qos, bytes(message.payload), sent_at)
        )

    def _hand_over(self) -> None:
        """After each read of the socket (network thread): pass what arrived to the worker."""
        if self._arrivals:
            arrivals, self._arrivals = self._arrivals, []
            metrics.RECEIVED.inc(len(arrivals))
            metrics.ACKS_OUTSTANDING.inc(len(arrivals))
            self.inbox.put(arrivals)
