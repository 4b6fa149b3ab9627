"""The handsets' side of receipts for the load tests: one subscriber to every device's receipts.

One MQTT connection with the dev/test operator identity (which may read under ecm/v1/) stands
in for the phones' receipt subscriptions: the broker routes each receipt once either way, at
QoS 1, and gets a PUBACK for each. It records when the first receipt for each event arrived,
and its outcome.

It shares two cores with ingest, the broker and PostgreSQL, so it must cost far less than what
it measures: paho-mqtt spends tens of microseconds of Python per message, which at several
thousand receipts a second would take a good part of a core from ingest. So, as the load
generator does (loadtests/mqtt_flood.py), it speaks MQTT 3.1.1 by hand on a plain thread:
whole reads split into packets, the PUBACKs of a read written at once, and payloads kept as
they came, to be read only when asked, outside the timed phases.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid
from collections import deque

from core.settings import Settings
from gateway.pki.identity import service_identity
from gateway.protocol import BadReceipt, Outcome, parse_receipt
from loadtests.mqtt_flood import connect_packet, split_packets

ALL_RECEIPTS = "ecm/v1/devices/+/receipts"
PUBLISH, SUBACK = 3, 9
PINGREQ = b"\xc0\x00"
PING_EVERY_S = 20.0


def _subscribe_packet(topic: str, packet_id: int = 1) -> bytes:
    name = topic.encode()
    body = struct.pack("!HH", packet_id, len(name)) + name + b"\x01"
    return b"\x82" + bytes([len(body)]) + body


class ReceiptListener:
    def __init__(self, settings: Settings) -> None:
        self._received_at: dict[uuid.UUID, float] = {}
        self._outcomes: dict[uuid.UUID, Outcome] = {}
        # Appended by the reading thread, taken from the left by readers: no lock for that.
        self._arrived: deque[tuple[float, bytes]] = deque()
        self.messages = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        tls = service_identity(settings, "operator").ssl_context()
        raw = socket.create_connection((settings.mqtt_host, settings.mqtt_port), timeout=20)
        self._sock = tls.wrap_socket(raw, server_hostname=settings.mqtt_host)
        self._sock.sendall(connect_packet(f"ecm-bench-receipts-{uuid.uuid4().hex[:6]}"))
        self._sock.sendall(_subscribe_packet(ALL_RECEIPTS))
        pending = b""
        while True:  # CONNACK, then SUBACK
            packets, pending = split_packets(pending + self._sock.recv(1 << 16))
            kinds = [header >> 4 for header, _ in packets]
            if SUBACK in kinds:
                body = packets[kinds.index(SUBACK)][1]
                if body[2] != 1:
                    raise RuntimeError(f"receipts subscription refused: {body!r}")
                break
        self._sock.settimeout(0.5)
        self._thread = threading.Thread(target=self._read, args=(pending,), daemon=True)
        self._thread.start()

    def _read(self, pending: bytes) -> None:
        last_sent = time.monotonic()
        while not self._closing.is_set():
            if time.monotonic() - last_sent > PING_EVERY_S:
                # Keep-alive through the phases that send no receipts (receipts off).
                self._sock.sendall(PINGREQ)
                last_sent = time.monotonic()
            try:
                data = self._sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            now = time.time()
            packets, pending = split_packets(pending + data)
            acks = []
            for header, body in packets:
                if header >> 4 != PUBLISH:
                    continue
                at = 2 + ((body[0] << 8) | body[1])
                if (header >> 1) & 3 == 0:
                    self._arrived.append((now, body[at:]))
                    continue
                acks.append(b"\x40\x02" + body[at : at + 2])
                self._arrived.append((now, body[at + 2 :]))
            if acks:
                self._sock.sendall(b"".join(acks))
                last_sent = time.monotonic()

    def _parse(self) -> None:
        with self._lock:
            while self._arrived:
                at, payload = self._arrived.popleft()
                try:
                    entries = parse_receipt(payload)
                except BadReceipt:
                    continue
                self.messages += 1
                for entry in entries:
                    self._received_at.setdefault(entry.event_id, at)
                    self._outcomes.setdefault(entry.event_id, entry.outcome)

    @property
    def received_at(self) -> dict[uuid.UUID, float]:
        self._parse()
        return self._received_at

    @property
    def outcomes(self) -> dict[uuid.UUID, Outcome]:
        self._parse()
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
        self._closing.set()
        self._thread.join(timeout=5)
        self._sock.close()
