"""The cluster's JetStream assets, made and inspected as the `svc:admin` identity.

The events stream takes every device's QoS 1 publish (`ecm.v1.devices.*.events`) with three
replicas, as a work queue: a message leaves it when ingest acknowledges it, which ingest does
only after the transaction holding it has committed. Ingest reads it through one durable pull
consumer with explicit acks, shared by every worker on every host.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from gateway.nats import EVENTS_STREAM, EVENTS_SUBJECTS, INGEST_CONSUMER

# A handset may be offline for days; the stream keeps what ingest has not yet committed.
MAX_AGE_S = 14 * 24 * 3600
# Unacknowledged deliveries outstanding across all workers before the cluster waits.
MAX_ACK_PENDING = 20_000
# A worker that took messages and died: they are delivered again after this.
ACK_WAIT_S = 30.0


@dataclass(frozen=True)
class ClusterView:
    stream_leader: str | None
    stream_replicas: list[str]
    consumer_leader: str | None
    pending: int
    ack_pending: int
    waiting: int


def events_stream_config(replicas: int) -> StreamConfig:
    return StreamConfig(
        name=EVENTS_STREAM,
        subjects=[EVENTS_SUBJECTS],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        num_replicas=replicas,
        max_age=MAX_AGE_S,
        # Never drop what a handset sent: refuse new messages instead (the handset keeps them).
        discard=DiscardPolicy.NEW,
        max_msg_size=64 * 1024,
    )


def ingest_consumer_config() -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=INGEST_CONSUMER,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ACK_WAIT_S,
        max_ack_pending=MAX_ACK_PENDING,
        # Never give up on a message: one that fails is retried until stored or quarantined.
        max_deliver=-1,
    )


async def connect(urls: list[str], tls: ssl.SSLContext, name: str) -> Client:
    return await nats.connect(
        servers=urls,
        tls=tls,
        # The certificate is checked against each URL's own host (names or IPs in its SANs).
        name=name,
        connect_timeout=5,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        allow_reconnect=True,
    )


async def ensure_events_stream(urls: list[str], tls: ssl.SSLContext, replicas: int = 3) -> None:
    client = await connect(urls, tls, "ecm-admin")
    try:
        js = client.jetstream(timeout=20)
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            try:
                try:
                    await js.stream_info(EVENTS_STREAM)
                except nats.js.errors.NotFoundError:
                    await js.add_stream(events_stream_config(replicas))
                await js.add_consumer(EVENTS_STREAM, ingest_consumer_config())
                return
            except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError) as exc:
                # Right after start-up the meta leader may still be being elected.
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"JetStream not available: {exc}") from exc
                await asyncio.sleep(0.5)
            except nats.js.errors.APIError as exc:
                if getattr(exc, "err_code", None) in (10039, 10008) or exc.code == 503:
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.5)
                    continue
                raise
    finally:
        await client.close()


async def cluster_view(urls: list[str], tls: ssl.SSLContext) -> ClusterView:
    client = await connect(urls, tls, "ecm-admin-view")
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
