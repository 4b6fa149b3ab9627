"""The ingest worker loop: batch, verify, store, commit, and only then acknowledge."""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType

import psycopg

from core.db import connect, wait_for_database
from core.settings import Settings
from gateway.protocol import Rejection
from ingest import metrics, store
from ingest.clock import apply_clock_rules
from ingest.directory import Directory
from ingest.receipts import EventOutcome, Outcome, send_receipts
from ingest.transport import make_transport
from ingest.verify import QuarantineEntry, ReceivedMessage, VerifiedEvent, verify

log = logging.getLogger("ecm.ingest")

STATS_EVERY_S = 10.0
# A graceful stop commits what the worker holds; it does not wait on a database that is away.
DRAIN_TIMEOUT_S = 20.0


@dataclass
class Counters:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    late_arriving: int = 0
    batches: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


class Worker:
    def __init__(self, settings: Settings, worker_index: int = 0) -> None:
        self.settings = settings
        self._tag_clock_tolerance = timedelta(seconds=settings.ingest_tag_clock_tolerance_s)
        self.consumer = make_transport(settings, worker_index)
        self.counters = Counters()
        self.stopping = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._directory: Directory | None = None
        self._carry: list[ReceivedMessage] = []

    def run(self) -> None:
        wait_for_database(self.settings, timeout_s=120)
        self._connect_database()
        self.consumer.start()
        last_stats = last_refresh = time.monotonic()
        while not self.stopping.is_set():
            batch = self._take_batch()
            if batch:
                self._commit_then_ack(batch)
            if time.monotonic() - last_refresh > self.settings.ingest_registry_refresh_s:
                self._refresh_directory()
                last_refresh = time.monotonic()
            if time.monotonic() - last_stats > STATS_EVERY_S:
                self._log_stats()
                last_stats = time.monotonic()
        self._drain()
        self.consumer.stop()
        self._log_stats()
        if self._conn is not None:
            self._conn.close()

    def stop(self, *_: object) -> None:
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        def _handler(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s: draining and stopping", signum)
            self.stop()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)

    def _drain(self) -> None:
        """Commit and acknowledge what this worker holds, while still connected to the broker.

        Intake closes first, so the drain ends: anything delivered after that stays
        unacknowledged with the broker and goes to the session (or another worker) later.
        """
        self.consumer.close_intake()
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        drained = 0
        while batch := self._take_batch(wait=False):
            drained += len(batch)
            self._commit_then_ack(batch, deadline=deadline)
        log.info("drained %d messages before stopping", drained, extra={"drained": drained})

    def _take_batch(self, wait: bool = True) -> list[ReceivedMessage]:
        """Up to a batch of messages: waits for the first, then up to ingest_batch_wait_ms."""
        size = self.settings.ingest_batch_size
        inbox = self.consumer.inbox
        batch, self._carry = self._carry, []
        deadline = time.monotonic() + self.settings.ingest_batch_wait_ms / 1000
        while len(batch) < size:
            try:
                if not batch:
                    batch.extend(inbox.get(timeout=0.2) if wait else inbox.get_nowait())
                    deadline = time.monotonic() + self.settings.ingest_batch_wait_ms / 1000
                    continue
                remaining = deadline - time.monotonic()
                batch.extend(inbox.get(timeout=remaining) if remaining > 0 else inbox.get_nowait())
            except queue.Empty:
                break
        # Arrivals come in lists of any length: what exceeds the batch opens the next one.
        batch, self._carry = batch[:size], batch[size:]
        return batch

    def _commit_then_ack(self, batch: list[ReceivedMessage], deadline: float | None = None) -> None:
        verified: tuple[list[VerifiedEvent], list[QuarantineEntry]] | None = None
        delay = 0.5
        while True:
            try:
                # Verification needs the registry (one query on a cache miss), so it sits
                # inside the retry too; once done it is not repeated.
                verified = verified or self._verify(batch)
                started = time.perf_counter()
                result = self._store(*verified)
                break
            except psycopg.OperationalError as exc:
                # The database is away (or a deadlock was broken): keep the batch
                # unacknowledged, the broker keeps it too, and retry. A drain with a deadline
                # gives up instead; the broker redelivers to the session after the restart.
                metrics.DATABASE_RETRIES.inc()
                log.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
                self._drop_connection()
                if deadline is not None and time.monotonic() + delay > deadline:
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(batch))
        self.consumer.ack(batch)
        self._count(batch, result, [*verified[1], *result.rejected])
        self._after_commit(result)

    def _after_commit(self, result: store.BatchResult) -> None:
        """Tell each handset what became of its events (protocol v1.1 receipts).

        The batch is committed and acknowledged already: a receipt that cannot go out now is
        not worth stopping the worker for, since the handset resends and is receipted then.
        """
        if not self.settings.ingest_receipts:
            return
        try:
            send_receipts(self.consumer, result.outcomes)
        except Exception:
            log.exception("receipts not sent; the handsets will resend and be receipted then")

    def _verify(
        self, batch: list[ReceivedMessage]
    ) -> tuple[list[VerifiedEvent], list[QuarantineEntry]]:
        if self._directory is None or self._conn is None or self._conn.closed:
            self._connect_database()
        assert self._directory is not None
        settings = self.settings
        events: list[VerifiedEvent] = []
        rejects: list[QuarantineEntry] = []
        for message in batch:
            outcome = verify(message, self._directory)
            if isinstance(outcome, VerifiedEvent):
                outcome = apply_clock_rules(
                    outcome,
                    skew_tolerance_s=settings.ingest_clock_skew_tolerance_s,
                    late_after_s=settings.ingest_late_after_s,
                )
            if isinstance(outcome, VerifiedEvent):
                events.append(outcome)
            else:
                rejects.append(outcome)
        return events, rejects

    def _store(
        self, events: list[VerifiedEvent], rejects: list[QuarantineEntry]
    ) -> store.BatchResult:
        if self._conn is None or self._conn.closed:
            self._connect_database()
        assert self._conn is not None
        try:
            with self._conn.transaction():
                return store.store_batch(
                    self._conn,
                    events,
                    rejects,
                    seq_window=self.settings.ingest_seq_window,
                    tag_clock_tolerance=self._tag_clock_tolerance,
                )
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            # A row the database refuses must not block the batch forever (it would be
            # redelivered and refused again): store the rest, quarantine that one with the error.
            log.error("batch refused (%s); storing one by one", exc)
            return self._store_one_by_one(events, rejects)

    def _store_one_by_one(
        self, events: list[VerifiedEvent], rejects: list[QuarantineEntry]
    ) -> store.BatchResult:
        assert self._conn is not None
        stored = duplicates = late = 0
        refused: list[QuarantineEntry] = []
        ruled: list[QuarantineEntry] = []
        outcomes: list[EventOutcome] = []
        window = self.settings.ingest_seq_window
        for event in events:
            try:
                with self._conn.transaction():
                    one = store.store_batch(
                        self._conn,
                        [event],
                        [],
                        seq_window=window,
                        tag_clock_tolerance=self._tag_clock_tolerance,
                    )
                stored += one.stored
                duplicates += one.duplicates
                late += one.late_arriving
                ruled.extend(one.rejected)
                outcomes.extend(one.outcomes)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                refused.append(
                    QuarantineEntry(
                        event.message,
                        Rejection.STORE_ERROR,
                        str(exc).strip(),
                        event.claims.device_id,
                        event.claims.event_id,
                    )
                )
        with self._conn.transaction():
            store.store_batch(self._conn, [], [*rejects, *refused])
        return store.BatchResult(
            stored,
            duplicates,
            len(rejects) + len(refused) + len(ruled),
            rejected=(*refused, *ruled),
            late_arriving=late,
            outcomes=(
                *outcomes,
                *(
                    EventOutcome(e.message.topic, e.event_id, Outcome.QUARANTINED, e.reason)
                    for e in (*rejects, *refused)
                ),
            ),
        )

    def _count(
        self,
        batch: list[ReceivedMessage],
        result: store.BatchResult,
        quarantined: list[QuarantineEntry],
    ) -> None:
        counters = self.counters
        counters.batches += 1
        counters.received += len(batch)
        counters.stored += result.stored
        counters.duplicates += result.duplicates
        counters.quarantined += result.quarantined
        counters.late_arriving += result.late_arriving
        metrics.VERIFIED.inc(len(batch) - (result.quarantined - len(result.rejected)))
        metrics.COMMITTED.inc(result.stored)
        metrics.DUPLICATES.inc(result.duplicates)
        metrics.LATE_ARRIVING.inc(result.late_arriving)
        for entry in quarantined:
            counters.by_reason[entry.reason] = counters.by_reason.get(entry.reason, 0) + 1
            metrics.QUARANTINED.labels(reason=entry.reason.value).inc()
            log.info(
                "quarantined %s: %s",
                entry.reason.value,
                entry.detail,
                extra={
                    "reason": entry.reason.value,
                    "device_id": entry.device_id,
                    "event_id": entry.event_id,
                    "topic": entry.message.topic,
                },
            )

    def _refresh_directory(self) -> None:
        if self._directory is None:
            return
        try:
            self._directory.reload()
        except psycopg.OperationalError as exc:
            # The next batch reconnects; a stale cache for one more interval is acceptable.
            log.warning("registry refresh failed: %s", exc)
            self._drop_connection()

    def _drop_connection(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None
        self._directory = None

    def _connect_database(self) -> None:
        self._drop_connection()
        try:
            self._conn = connect(self.settings, "ingest", autocommit=True)
            problem = store.ensure_partitions(self._conn)
            if problem:
                log.warning("could not extend event partitions: %s", problem)
            self._directory = Directory(self._conn)
        except psycopg.OperationalError:
            self._conn = None
            self._directory = None
            raise

    def _log_stats(self) -> None:
        c = self.counters
        log.info(
            "received=%d stored=%d duplicates=%d quarantined=%d late=%d batches=%d",
            c.received,
            c.stored,
            c.duplicates,
            c.quarantined,
            c.late_arriving,
            c.batches,
            extra={
                "received": c.received,
                "stored": c.stored,
                "duplicates": c.duplicates,
                "quarantined": c.quarantined,
                "late_arriving": c.late_arriving,
                "batches": c.batches,
                "by_reason": dict(c.by_reason),
            },
        )
