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
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ecm.settings import Settings
from gateway.pki.identity import service_identity, session_client_id
from gateway.protocol import events_subscription
from ingest import metrics
from ingest.clock import SENT_AT_PROPERTY, parse_sent_at
from ingest.verify import ReceivedMessage

log = logging.getLogger("ecm.ingest")

SESSION_EXPIRY_S = 7 * 24 * 3600
STATUS_TOPICS = "ecm/v1/ingest/+/status"


_PUBACK = struct.Struct("!BBH")
# Packets read per wake-up of paho's network thread before it selects again.
READ_PACKETS_PER_WAKEUP = 1000


class _SubscriberClient(mqtt.Client):
    """paho-mqtt 2.2 reads one packet per select() when it has nothing of its own in flight,
    as for a subscriber that acks by hand: a select() and a loop turn per message. Read what
    the socket already holds instead (it is non-blocking: the loop stops at "would block")."""

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        for _ in range(READ_PACKETS_PER_WAKEUP):
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                break
        return MQTTErrorCode.MQTT_ERR_SUCCESS

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
        self.inbox: queue.Queue[ReceivedMessage] = queue.Queue()
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
        )
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

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        received_at = datetime.now(UTC)
        if self._intake_closed.is_set():
            return
        sent_at = None
        for name, value in getattr(message.properties, "UserProperty", None) or ():
            if name == SENT_AT_PROPERTY:
                sent_at = parse_sent_at(value)
        metrics.RECEIVED.inc()
        metrics.ACKS_OUTSTANDING.inc()
        self.inbox.put(
            ReceivedMessage(
                mid=message.mid,
                topic=message.topic,
                payload=bytes(message.payload),
                received_at=received_at,
                qos=message.qos,
                sent_at=sent_at,
                connection=self._connection,
            )
        )
