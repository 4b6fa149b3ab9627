"""The cluster side of an ingest worker: the events stream's durable pull consumer.

NATS's MQTT has no `$share` subscriptions; competing workers are pulls on one durable consumer
with explicit acks (gateway/jetstream.py). A worker pulls at most two batches ahead of what it
has acknowledged, and acknowledges a message only when the worker says its batch committed; a
message taken by a worker that dies is delivered again after the consumer's ack wait.

nats-py is asyncio: the consumer runs its own event loop in a thread, like paho's network thread
for the MQTT transport, and hands the worker lists of ReceivedMessage.

Handsets reach the cluster over MQTT 3.1.1 (NATS refuses MQTT 5), which has no user
properties: events arrive without the `sent-at` clock, so only the device-time rules apply
(ingest/clock.py; docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from core.settings import Settings
from gateway import jetstream
from gateway.nats import EVENTS_STREAM, INGEST_CONSUMER, subject_to_topic
from gateway.pki.identity import service_identity
from ingest import metrics
from ingest.cluster_receipts import ClusterReceiptClient
from ingest.verify import ReceivedMessage

log = logging.getLogger("ecm.ingest")

# How long one pull waits on the cluster before asking again (and noticing a stop).
PULL_WAIT_S = 1.0
# After an error (a node lost, a leader being elected), wait this long before pulling again.
RETRY_S = 0.5


def nats_urls(settings: Settings) -> list[str]:
    urls = [url.strip() for url in settings.nats_urls.split(",") if url.strip()]
    if not urls:
        raise RuntimeError("ECM_INGEST_TRANSPORT=jetstream needs ECM_NATS_URLS")
    return urls


class JetStreamConsumer:
    def __init__(self, settings: Settings, worker_index: int = 0) -> None:
        self.inbox: queue.Queue[list[ReceivedMessage]] = queue.Queue()
        self.connected = threading.Event()
        self._settings = settings
        self._name = f"ecm-ingest-{worker_index}"
        self._batch = settings.ingest_batch_size
        self._window = settings.ingest_receive_maximum or max(2 * self._batch, 100)
        self._intake_closed = threading.Event()
        self._stopping = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="jetstream", daemon=True)
        self._client: Client | None = None
        # Delivered, not yet acknowledged: local id -> the message (its reply subject acks it).
        self._unacked: dict[int, Msg] = {}
        self._lock = threading.Lock()
        self._next_id = 0
        self._receipts: ClusterReceiptClient | None = None

    def start(self) -> None:
        if self._settings.ingest_receipts:
            self._receipts = ClusterReceiptClient(self._settings, self._name)
        self._thread.start()

    def publish_receipts(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Over MQTT QoS 1, not a NATS publish: an offline handset's session keeps them."""
        if self._receipts is not None:
            for topic, payload in messages:
                self._receipts.publish(topic, payload)

    def close_intake(self) -> None:
        self._intake_closed.set()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        if self._receipts is not None:
            self._receipts.close()

    def ack(self, messages: Iterable[ReceivedMessage]) -> int:
        with self._lock:
            taken = [self._unacked.pop(m.mid) for m in messages if m.mid in self._unacked]
        if not taken:
            return 0
        future = asyncio.run_coroutine_threadsafe(self._ack(taken), self._loop)
        try:
            future.result(timeout=10)
        except Exception as exc:
            # Unacknowledged messages come back after the ack wait; the store knows them.
            log.warning("acknowledgement not sent (%s); the cluster will redeliver", exc)
            return 0
        metrics.ACKED.inc(len(taken))
        metrics.ACKS_OUTSTANDING.dec(len(taken))
        return len(taken)

    async def _ack(self, messages: list[Msg]) -> None:
        for message in messages:
            await message.ack()
        if self._client is not None:
            await self._client.flush(timeout=5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._pull_forever())
        finally:
            self._loop.close()

    async def _pull_forever(self) -> None:
        tls = service_identity(self._settings, "ingest").ssl_context()
        while not self._stopping.is_set():
            try:
                self._client = await jetstream.connect(nats_urls(self._settings), tls, self._name)
                subscription = await self._client.jetstream(timeout=10).pull_subscribe_bind(
                    INGEST_CONSUMER, EVENTS_STREAM
                )
                self.connected.set()
                log.info("pulling from %s/%s", EVENTS_STREAM, INGEST_CONSUMER)
                await self._pull(subscription)
            except Exception as exc:
                self.connected.clear()
                log.warning("JetStream consumer: %s; trying again", exc)
                await asyncio.sleep(RETRY_S)
        if self._client is not None:
            # Acks were flushed as they were sent; anything unacknowledged is redelivered.
            await self._client.close()

    async def _pull(self, subscription: nats.js.JetStreamContext.PullSubscription) -> None:
        while not self._stopping.is_set():
            with self._lock:
                room = self._window - len(self._unacked)
            if room <= 0 or self._intake_closed.is_set():
                # Two batches ahead of the commits already: wait for the worker to catch up.
                await asyncio.sleep(0.01)
                continue
            try:
                batch = await subscription.fetch(min(room, self._batch), timeout=PULL_WAIT_S)
            except TimeoutError:
                continue
            except nats.errors.Error as exc:
                # A node or the consumer leader lost: the client reconnects on its own.
                log.warning("pull failed (%s); pulling again", exc)
                await asyncio.sleep(RETRY_S)
                continue
            self._hand_over(batch)

    def _hand_over(self, batch: list[Msg]) -> None:
        if self._intake_closed.is_set():
            # Left unacknowledged: delivered again (to any worker) after the ack wait.
            return
        now = datetime.now(UTC)
        arrivals = []
        with self._lock:
            for message in batch:
                self._next_id += 1
                self._unacked[self._next_id] = message
                arrivals.append(
                    ReceivedMessage(
                        mid=self._next_id,
                        topic=subject_to_topic(message.subject),
                        payload=message.data,
                        received_at=now,
                    )
                )
        if arrivals:
            metrics.RECEIVED.inc(len(arrivals))
            metrics.ACKS_OUTSTANDING.inc(len(arrivals))
            self.inbox.put(arrivals)


def wait_for_jetstream_ingest(settings: Settings, timeout_s: float = 30.0) -> bool:
    """Until some worker has a pull waiting on the ingest consumer (it is taking events)."""

    async def _waiting() -> bool:
        tls = service_identity(settings, "ingest").ssl_context()
        client = await jetstream.connect(
            nats_urls(settings), tls, "ecm-ingest-readiness", attempts=int(timeout_s / 0.5) + 1
        )
        try:
            js = client.jetstream(timeout=5)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                try:
                    info = await js.consumer_info(EVENTS_STREAM, INGEST_CONSUMER)
                    if (info.num_waiting or 0) > 0:
                        return True
                except nats.errors.Error:
                    pass
                await asyncio.sleep(0.2)
            return False
        finally:
            await client.close()

    return bool(asyncio.run(_waiting()))
