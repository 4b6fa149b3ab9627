"""The cluster's JetStream assets, made and inspected as the `svc:admin` identity.

Every device's QoS 1 publish is written by the server to the MQTT layer's `$MQTT_msgs` stream
(three replicas, `mqtt.stream_replicas`) before the PUBACK goes back. Ingest's durable pull
consumer on it, filtered to the events subjects, keeps each message there (the stream's
retention is by interest) until ingest acknowledges it, which ingest does only after the
transaction holding it has committed. One consumer, shared by every worker on every host.

The consumer must exist before the first handset publishes: with no consumer interested, the
stream drops a message as soon as it is written. `ensure_ingest_consumer` runs at cluster set-up
(`ecm cluster up`, `ecm cluster streams`).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import nats
import paho.mqtt.client as mqtt
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from core.settings import Settings
from gateway.nats import EVENTS_STREAM, EVENTS_SUBJECTS, INGEST_CONSUMER
from gateway.pki.identity import TlsIdentity, service_identity

# Unacknowledged deliveries outstanding across all workers before the cluster waits.
MAX_ACK_PENDING = 20_000
# A worker that took messages and died, or an acknowledgement lost with a node: delivered again
# after this. A worker still retrying its batch (database away) may see it delivered to another
# worker meanwhile; the store counts the second copy as a duplicate.
ACK_WAIT_S = 10.0
# Administrative connections try every node this many times (0.5 s apart) before failing.
ADMIN_ATTEMPTS = 10


@dataclass(frozen=True)
class ClusterView:
    stream_leader: str | None
    stream_replicas: list[str]
    consumer_leader: str | None
    pending: int
    ack_pending: int
    waiting: int


def ingest_consumer_config() -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=INGEST_CONSUMER,
        filter_subject=EVENTS_SUBJECTS,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ACK_WAIT_S,
        max_ack_pending=MAX_ACK_PENDING,
        # Never give up on a message: one that fails is retried until stored or quarantined.
        max_deliver=-1,
    )


async def connect(urls: list[str], tls: ssl.SSLContext, name: str, *, attempts: int = -1) -> Client:
    """`attempts`: reconnections before giving up, -1 for never (ingest); the administrative
    calls give up after a few seconds of finding no node, and say so."""
    return await nats.connect(
        servers=urls,
        tls=tls,
        # The certificate is checked against each URL's own host (names or IPs in its SANs).
        name=name,
        connect_timeout=5,
        max_reconnect_attempts=attempts,
        reconnect_time_wait=0.5,
        allow_reconnect=True,
    )


async def ensure_ingest_consumer(urls: list[str], tls: ssl.SSLContext) -> None:
    """Ingest's consumer on the MQTT layer's stream (which the first MQTT connection made)."""
    client = await connect(urls, tls, "ecm-admin", attempts=ADMIN_ATTEMPTS)
    try:
        js = client.jetstream(timeout=20)
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            try:
                await js.stream_info(EVENTS_STREAM)
                try:
                    # Kept as it is when it exists: it may hold days of events for ingest.
                    await js.consumer_info(EVENTS_STREAM, INGEST_CONSUMER)
                except nats.js.errors.NotFoundError:
                    await js.add_consumer(EVENTS_STREAM, ingest_consumer_config())
                return
            except nats.errors.Error as exc:
                # Right after start-up a leader may still be being elected.
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(
                        f"JetStream not ready for the ingest consumer: {exc}"
                    ) from exc
                await asyncio.sleep(0.5)
    finally:
        await client.close()


async def cluster_view(urls: list[str], tls: ssl.SSLContext) -> ClusterView:
    client = await connect(urls, tls, "ecm-admin-view", attempts=ADMIN_ATTEMPTS)
    try:
        js = client.jetstream(timeout=10)
        stream = await js.stream_info(EVENTS_STREAM)
        consumer = await js.consumer_info(EVENTS_STREAM, INGEST_CONSUMER)
        cluster: Any = stream.cluster
        replicas = [r.name for r in (cluster.replicas or [])] if cluster else []
        consumer_cluster: Any = consumer.cluster
        return ClusterView(
            stream_leader=cluster.leader if cluster else None,
            stream_replicas=replicas,
            consumer_leader=consumer_cluster.leader if consumer_cluster else None,
            pending=consumer.num_pending or 0,
            ack_pending=consumer.num_ack_pending or 0,
            waiting=consumer.num_waiting or 0,
        )
    finally:
        await client.close()


def run(coroutine: Any) -> Any:
    """Call one of these from synchronous code (the CLI, the tests)."""
    return asyncio.run(coroutine)


def prepare_events(settings: Settings, urls: list[str], mqtt_port: int) -> None:
    """Cluster set-up: one MQTT connection (the server then makes the MQTT layer's streams,
    `$MQTT_msgs` included), then ingest's consumer on it. Idempotent."""
    open_mqtt(settings.mqtt_host, mqtt_port, service_identity(settings, "admin"))
    run(ensure_ingest_consumer(urls, service_identity(settings, "admin").ssl_context()))


def open_mqtt(host: str, port: int, identity: TlsIdentity, timeout_s: float = 60.0) -> None:
    """Until one MQTT 3.1.1 connection is accepted.

    Left to the first handsets, several nodes make the MQTT layer's streams at once and may
    refuse those first connections while they settle who owns them (2.15.1: "replicas mismatch").
    """
    deadline = time.monotonic() + timeout_s
    while not _mqtt_accepts(host, port, identity):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the cluster's MQTT port {port} did not accept a connection")
        time.sleep(0.5)


def _mqtt_accepts(host: str, port: int, identity: TlsIdentity) -> bool:
    connected = threading.Event()
    accepted: list[bool] = []
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"ecm-cluster-setup-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    identity.apply(client)

    def _on_connect(c: mqtt.Client, u: Any, f: Any, reason: Any, p: Any) -> None:
        accepted.append(not reason.is_failure)
        connected.set()

    client.on_connect = _on_connect
    try:
        client.connect(host, port)
        client.loop_start()
        connected.wait(10)
    except OSError:
        return False
    finally:
        client.loop_stop()
        client.disconnect()
    return bool(accepted and accepted[0])
