"""The broker's limits, against a real Mosquitto started from the generated configuration.

Each test starts its own broker (loopback, its own state folder) so small caps do not touch the
session's broker: the configuration is gateway.broker's, with only the numbers under test
changed. What the limits are and why: docs/deployment.md, "Broker limits".
"""

from __future__ import annotations

import os
import pwd
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from prometheus_client import CollectorRegistry, generate_latest

from core.process import free_port, port_open
from core.settings import Settings
from ecm.services.mosquitto import binary, dynsec_plugin, limit_open_files
from gateway.broker import (
    MAX_PACKET_BYTES,
    OPEN_FILES_HEADROOM,
    BrokerConfig,
    BrokerTls,
    open_files_limit,
    render_dynsec_config,
    render_mosquitto_conf,
)
from gateway.broker_stats import RETAINED, STORED, BrokerStats, Figures
from gateway.pki.identity import TlsIdentity, service_identity
from gateway.pki.layout import DEV_SERVICES, initialise, pki_layout
from gateway.protocol.jws import MAX_TOKEN_BYTES
from tests.support.ids import unique
from tests.support.polling import wait_until
from tests.support.servers import starts_servers

# The longest event topic a registered device can have (device ids are up to 64 characters).
LONGEST_TOPIC = f"ecm/v1/devices/{'D' * 64}/events"


@dataclass(frozen=True)
class Broker:
    process: subprocess.Popen[bytes]
    config: BrokerConfig
    settings: Settings

    @property
    def port(self) -> int:
        return self.config.port

    def identity(self, role: str) -> TlsIdentity:
        return service_identity(self.settings, role)

    def log(self) -> str:
        assert self.config.log_file is not None
        return self.config.log_file.read_text()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


BrokerFactory = Callable[..., Broker]


@pytest.fixture
@starts_servers
def start_broker(tmp_path: Path) -> Iterator[BrokerFactory]:
    """Start Mosquitto from the generated configuration with some numbers changed."""
    started: list[subprocess.Popen[bytes]] = []

    def _start(**limits: Any) -> Broker:
        state = tmp_path / f"broker-{len(started)}"
        (state / "mqtt" / "data").mkdir(parents=True)
        port = free_port()
        settings = Settings(env="test", state_dir=state, mqtt_host="127.0.0.1", mqtt_port=port)
        layout = pki_layout(state)
        initialise(layout, settings.master_key, [], DEV_SERVICES)
        dynsec = state / "mqtt" / "dynamic-security.json"
        dynsec.write_text(render_dynsec_config(DEV_SERVICES, []))
        config = BrokerConfig(
            port=port,
            persistence_dir=state / "mqtt" / "data",
            log_file=state / "mqtt" / "mosquitto.log",
            tls=BrokerTls(layout.ca_file, layout.server_cert, layout.server_key, layout.crl_file),
            dynsec_plugin=dynsec_plugin(),
            dynsec_file=dynsec,
            # Started as root, mosquitto would switch to its own user and lose our folder.
            run_as=pwd.getpwuid(os.geteuid()).pw_name,
        )
        config = replace(config, **limits)
        conf = state / "mqtt" / "mosquitto.conf"
        conf.write_text(render_mosquitto_conf(config))
        process = subprocess.Popen(
            [binary(), "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=limit_open_files(open_files_limit(config)),
            cwd="/",
        )
        started.append(process)
        wait_until(lambda: port_open(config.port) or process.poll() is not None, timeout_s=20)
        assert process.poll() is None, f"mosquitto exited: see {state}/mqtt/mosquitto.log"
        return Broker(process, config, settings)

    yield _start
    for process in started:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- raw MQTT over TLS: what a misbehaving client sends, byte for byte ------------------------


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str) -> bytes:
    body = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + _utf8(client_id)
    return b"\x10" + _length(len(body)) + body


def publish_header(topic: str, payload_length: int) -> bytes:
    """A QoS 1 PUBLISH up to its payload: what announces the payload's size."""
    variable = _utf8(topic) + struct.pack("!H", 1)
    return b"\x32" + _length(len(variable) + payload_length) + variable


def tls_session(broker: Broker, role: str = "operator") -> ssl.SSLSocket:
    """A TLS connection that has sent CONNECT and received a successful CONNACK."""
    raw = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
    sock = broker.identity(role).ssl_context().wrap_socket(raw, server_hostname="localhost")
    sock.sendall(connect_packet(unique("ecm-limits-")))
    connack = sock.recv(4)
    assert connack[:1] == b"\x20" and connack[3:4] == b"\x00", connack
    return sock


def send_until_closed(sock: ssl.SSLSocket, data: bytes, chunk: int = 64 * 1024) -> int:
    """Write `data` until the broker closes the connection; the bytes it took."""
    sent = 0
    try:
        while sent < len(data):
            sock.sendall(data[sent : sent + chunk])
            sent += chunk
    except (ssl.SSLError, OSError):
        pass
    return min(sent, len(data))


def closed_by_broker(sock: ssl.SSLSocket, timeout_s: float = 5.0) -> bool:
    sock.settimeout(timeout_s)
    try:
        return sock.recv(1) == b""
    except (ssl.SSLError, OSError):
        return True


# --- paho: what a well-behaved handset does ---------------------------------------------------


class Client:
    def __init__(self, broker: Broker, role: str, v5: bool, clean: bool = True) -> None:
        protocol = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
        extra: dict[str, Any] = {} if v5 else {"clean_session": clean}
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=unique("ecm-limits-"),
            protocol=protocol,
            **extra,
        )
        broker.identity(role).apply(self.client)
        self.broker = broker
        self.messages: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.connack_properties: Any = None
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload)))

    def _on_connect(self, c: mqtt.Client, u: Any, f: Any, rc: Any, p: Any) -> None:
        self.connack_properties = p
        if not rc.is_failure:
            self.connected.set()

    def connect(self, timeout_s: float = 5.0) -> bool:
        try:
            self.client.connect("127.0.0.1", self.broker.port, keepalive=30)
        except (ssl.SSLError, OSError):
            return False
        self.client.loop_start()
        return self.connected.wait(timeout_s)

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)

    def publish(self, topic: str, payload: bytes) -> bool:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=10)
        return info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- the tests --------------------------------------------------------------------------------


def test_queue_depth_needs_the_retained_count_as_well_as_the_store() -> None:
    # Mosquitto 2.0 republishes a $SYS figure only on change (retained for 60 s): a worker may
    # know the store's count long before the retained count, and the store holds both.
    assert Figures({STORED: 40.0}, updated=1.0).queued is None
    assert Figures({STORED: 40.0, RETAINED: 35.0}, updated=1.0).queued == 5.0
    assert Figures({STORED: 30.0, RETAINED: 35.0}, updated=1.0).queued == 0.0


def test_the_packet_limit_leaves_room_above_the_protocol_maximum() -> None:
    largest = len(publish_header(LONGEST_TOPIC, MAX_TOKEN_BYTES)) + MAX_TOKEN_BYTES
    assert largest < MAX_PACKET_BYTES <= MAX_TOKEN_BYTES + 2048


@pytest.mark.parametrize("v5", [True, False], ids=["mqtt5", "mqtt311"])
def test_a_publish_at_the_protocol_maximum_goes_through(
    start_broker: BrokerFactory, v5: bool
) -> None:
    broker = start_broker()
    reader = Client(broker, "operator", v5)
    writer = Client(broker, "operator", v5)
    assert reader.connect() and writer.connect()
    reader.subscribe("ecm/v1/devices/+/events")
    if v5:  # an MQTT 5 handset is told the limit when it connects
        assert writer.connack_properties.MaximumPacketSize == MAX_PACKET_BYTES
    at_maximum = b"a" * MAX_TOKEN_BYTES
    # One byte over the protocol's maximum still fits the packet: it reaches ingest, which
    # quarantines it as not_jws with the payload kept, rather than vanishing at the broker.
    over = b"b" * (MAX_TOKEN_BYTES + 1)
    assert writer.publish(LONGEST_TOPIC, at_maximum)
    assert writer.publish(LONGEST_TOPIC, over)
    wait_until(lambda: len(reader.messages) == 2)
    assert reader.messages == [(LONGEST_TOPIC, at_maximum), (LONGEST_TOPIC, over)]
    reader.close()
    writer.close()


def test_a_20_mb_publish_over_tls_is_refused_and_the_broker_stays_small(
    start_broker: BrokerFactory,
) -> None:
    broker = start_broker()
    before = broker.rss_kib()
    announced = 20 * 1024 * 1024
    # Five connections, each announcing a 20 MB PUBLISH and then streaming 4 MB of it: without
    # max_packet_size Mosquitto buffers every byte of it (the issue measured 10 -> 93 MB).
    sockets = [tls_session(broker) for _ in range(5)]
    attempt = publish_header(LONGEST_TOPIC, announced) + bytes(4 << 20)
    taken = [send_until_closed(sock, attempt) for sock in sockets]
    assert all(closed_by_broker(sock) for sock in sockets)
    after = broker.rss_kib()
    # What the broker read before it hung up is at most what the kernel buffers held.
    assert after - before < 8 * 1024, f"broker RSS {before} KiB -> {after} KiB"
    # ...and it still serves everyone else.
    client = Client(broker, "operator", v5=True)
    assert client.connect()
    assert client.publish(LONGEST_TOPIC, b"x" * MAX_TOKEN_BYTES)
    client.close()
    print(f"broker RSS {before} KiB before, {after} KiB after; bytes written per client {taken}")


def test_connections_past_the_listener_cap_are_refused(start_broker: BrokerFactory) -> None:
    broker = start_broker(max_connections=10)
    held = [socket.create_connection(("127.0.0.1", broker.port)) for _ in range(10)]
    time.sleep(0.3)  # the broker accepts them in its own time
    extra = socket.create_connection(("127.0.0.1", broker.port))
    extra.settimeout(5)
    with suppress(ConnectionResetError):
        assert extra.recv(1) == b"", "an 11th connection was kept"
    client = Client(broker, "operator", v5=True)
    assert not client.connect(timeout_s=3), "a client connected past max_connections"
    client.close()
    for sock in [*held, extra]:
        sock.close()
    wait_until(lambda: Client(broker, "operator", v5=True).connect(), timeout_s=10)


def test_the_open_files_limit_bounds_connections_once_the_cap_has_eroded(
    start_broker: BrokerFactory,
) -> None:
    cap = 10
    broker = start_broker(max_connections=cap)
    limits = Path(f"/proc/{broker.process.pid}/limits").read_text()
    [line] = [x for x in limits.splitlines() if x.startswith("Max open files")]
    assert line.split()[3:5] == [str(cap + OPEN_FILES_HEADROOM)] * 2
    # Mosquitto 2.0.11 takes two off its count for every connection that closes, so ordinary
    # comings and goings raise the real cap by one each: 100 of them lift it to 110.
    for _ in range(100):
        tls_session(broker).close()
    # The broker logs each close as it handles it.
    wait_until(lambda: broker.log().count("closed its connection") >= 100, timeout_s=10)
    # Now only the open-files limit stops it: count the TLS handshakes it completes.
    accepted: list[ssl.SSLSocket] = []
    context = broker.identity("operator").ssl_context()
    for _ in range(cap + OPEN_FILES_HEADROOM + 10):
        raw = socket.create_connection(("127.0.0.1", broker.port), timeout=2)
        try:
            accepted.append(context.wrap_socket(raw, server_hostname="localhost"))
        except (ssl.SSLError, OSError):
            raw.close()
            break
    count = len(accepted)
    for sock in accepted:
        sock.close()
    print(f"handshakes completed after 100 closed connections: {count} (max_connections {cap})")
    assert cap < count <= cap + OPEN_FILES_HEADROOM
    # The broker is unharmed: once they are gone, a client connects.
    wait_until(lambda: Client(broker, "operator", v5=True).connect(), timeout_s=10)


def test_queue_depth_and_drops_are_exported(start_broker: BrokerFactory) -> None:
    broker = start_broker(max_queued_messages=30, sys_interval=1)
    stats = BrokerStats("127.0.0.1", broker.port, broker.identity("ingest"), "test")
    stats.start()
    registry = CollectorRegistry(auto_describe=True)
    registry.register(stats)
    try:
        # An offline persistent session (as ingest's is while it is stopped) with a backlog.
        offline = Client(broker, "operator", v5=False, clean=False)
        client_id = offline.client._client_id
        assert offline.connect()
        offline.subscribe("ecm/v1/devices/+/events")
        offline.close()
        writer = Client(broker, "operator", v5=True)
        assert writer.connect()
        for n in range(50):
            assert writer.publish("ecm/v1/devices/D1/events", f"event {n}".encode())
        writer.close()
        wait_until(
            lambda: (
                stats.figures().queued == 30
                and stats.figures().values.get("$SYS/broker/publish/messages/dropped") == 20
            ),
            timeout_s=15,
        )
        text = generate_latest(registry).decode()
        assert "ecm_broker_queued_messages 30.0" in text
        assert "ecm_broker_messages_dropped_total 20.0" in text
        # The session comes back and drains its queue: depth returns to 0.
        back = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id.decode(),
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=False,
        )
        broker.identity("operator").apply(back)
        got: list[bytes] = []
        back.on_message = lambda c, u, m: got.append(bytes(m.payload))
        back.connect("127.0.0.1", broker.port)
        back.loop_start()
        wait_until(lambda: len(got) == 30)
        wait_until(lambda: stats.figures().queued == 0, timeout_s=15)
        back.disconnect()
        back.loop_stop()
    finally:
        stats.stop()


def test_bulk_provisioning_messages_stay_under_the_packet_limit() -> None:
    import json

    from gateway.broker import device_client, device_role
    from gateway.pki.broker import batches

    commands: list[dict[str, Any]] = []
    for n in range(500):
        device_id = f"D{n:063d}"  # the longest device id
        commands.append({"command": "createRole", **device_role(device_id)})
        commands.append({"command": "createClient", **device_client(device_id)})
    split = batches(commands)
    assert [c for batch in split for c in batch] == commands
    for batch in split:
        tagged = [{**c, "correlationData": "f" * 32} for c in batch]
        message = json.dumps({"commands": tagged}).encode()
        topic = len("$CONTROL/dynamic-security/v1") + 2 + 2 + 5
        assert len(message) + topic < MAX_PACKET_BYTES
