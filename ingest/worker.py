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
from gateway.protocol import Rejected, Rejection, device_from_topic
from ingest import attempt_store, metrics, store
from ingest.clock import apply_clock_rules
from ingest.directory import Directory
from ingest.errors import ErrorClass, StoreFault, classify
from ingest.receipts import EventOutcome, Outcome, send_receipts
from ingest.transport import make_transport
from ingest.verify import QuarantineEntry, ReceivedMessage, VerifiedEvent, verify

log = logging.getLogger("ecm.ingest")

STATS_EVERY_S = 10.0
# A graceful stop commits what the worker holds; it does not wait on a database that is away.
DRAIN_TIMEOUT_S = 20.0
# Recorded attempts at a message after which it is quarantined as poison, not processed again:
# each was a worker dying with the message in hand, the later ones with it processed alone.
POISON_AFTER = 3
# Storing one event again after two workers raced on its key: the second try sees the winner.
DEDUP_RACE_TRIES = 3


class TransientStoreError(Exception):
    """The database refused a batch for a reason that passes: retry it, acknowledge nothing."""

    def __init__(self, fault: StoreFault) -> None:
        super().__init__(fault.detail)
        self.fault = fault


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
        # Attempts at the messages of the batch taken (ingest.attempt_store): how many earlier
        # ones still hold each (normally none), and, for the part in hand, its own record and
        # each message's count including it.
        self._held: dict[bytes, int] = {}
        self._attempt: int | None = None
        self._attempts: dict[bytes, int] = {}

    def run(self) -> None:
        wait_for_database(self.settings, timeout_s=120)
        self._connect_database()
        self.consumer.start()
        last_stats = last_refresh = time.monotonic()
        while not self.stopping.is_set():
            batch = self._take_batch()
            for part in self._isolate_suspects(batch):
                self._commit_then_ack(part)
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
            for part in self._isolate_suspects(batch, deadline=deadline):
                self._commit_then_ack(part, deadline=deadline)
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

    def _isolate_suspects(
        self, batch: list[ReceivedMessage], deadline: float | None = None
    ) -> list[list[ReceivedMessage]]:
        """Split off the messages a worker already died holding, to be processed one at a time.

        A message with an attempt still recorded (ingest.attempt_store) was in hand when a
        worker died. Alone, it can kill only its own attempt, not the good messages around it,
        and only its own count grows: after POISON_AFTER attempts `_verify` quarantines it as
        poison without processing it.
        """
        if not batch:
            return []
        delay = 0.5
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._connect_database()
                assert self._conn is not None
                fingerprints = [attempt_store.fingerprint(m) for m in batch]
                self._held = attempt_store.held(self._conn, fingerprints)
                break
            except psycopg.Error as exc:
                next_delay = self._back_off(classify(exc), delay, deadline)
                if next_delay is None:
                    return []
                delay = next_delay
        if not self._held:
            return [batch]
        suspects = [m for m in batch if attempt_store.fingerprint(m) in self._held]
        log.warning(
            "%d of %d messages were held by a worker that died; processing them one by one",
            len(suspects),
            len(batch),
            extra={"suspects": len(suspects), "batch": len(batch)},
        )
        rest = [m for m in batch if attempt_store.fingerprint(m) not in self._held]
        return [*([rest] if rest else []), *([m] for m in suspects)]

    def _back_off(self, fault: StoreFault, delay: float, deadline: float | None) -> float | None:
        """Wait before trying the database again; the next delay, or None to give up (a drain
        past its deadline: the broker redelivers the batch to the session after the restart)."""
        metrics.DATABASE_RETRIES.inc()
        log.warning(
            "database refused the batch (SQLSTATE %s: %s); retrying in %.1fs",
            fault.sqlstate or "none",
            fault.message,
            delay,
            extra={"sqlstate": fault.sqlstate},
        )
        self._drop_connection()
        if deadline is not None and time.monotonic() + delay > deadline:
            return None
        time.sleep(delay)
        return min(delay * 2, 5.0)

    def _commit_then_ack(self, batch: list[ReceivedMessage], deadline: float | None = None) -> None:
        verified: tuple[list[VerifiedEvent], list[QuarantineEntry]] | None = None
        recorded = False
        delay = 0.5
        while True:
            try:
                if not recorded:
                    # Durably, before anything of the batch is processed: should a message
                    # kill this worker, the next delivery knows (_isolate_suspects).
                    self._record_attempts(batch)
                    recorded = True
                # Verification needs the registry (one query on a cache miss), so it sits
                # inside the retry too; once done it is not repeated.
                verified = verified or self._verify(batch)
                started = time.perf_counter()
                result = self._store(*verified)
                break
            except (psycopg.Error, TransientStoreError) as exc:
                # Whatever the database's trouble (away, read-only, full, a privilege revoked,
                # a deadlock...), the batch stays unacknowledged, the broker keeps it too, and
                # it is retried: a passing fault never quarantines a valid event.
                fault = exc.fault if isinstance(exc, TransientStoreError) else classify(exc)
                next_delay = self._back_off(fault, delay, deadline)
                if next_delay is None:
                    return
                delay = next_delay
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

    def _record_attempts(self, batch: list[ReceivedMessage]) -> None:
        if self._conn is None or self._conn.closed:
            self._connect_database()
        assert self._conn is not None
        fingerprints = [attempt_store.fingerprint(message) for message in batch]
        self._attempt = attempt_store.record(self._conn, fingerprints)
        self._attempts = {f: self._held.get(f, 0) + 1 for f in fingerprints}

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
            try:
                outcome = self._poison(message) or verify(message, self._directory)
                if isinstance(outcome, VerifiedEvent):
                    outcome = apply_clock_rules(
                        outcome,
                        skew_tolerance_s=settings.ingest_clock_skew_tolerance_s,
                        late_after_s=settings.ingest_late_after_s,
                    )
            except psycopg.Error:
                raise  # the registry is unreachable: the database's fault, not the message's
            except Exception as exc:
                # No message may stop ingest: whatever reading this one raised, it goes to
                # quarantine with the exception, and the rest of the batch goes on.
                log.exception("quarantining a message that failed verification")
                outcome = QuarantineEntry(
                    message, Rejection.MALFORMED, _exception_detail(exc), _device_of(message), None
                )
            if isinstance(outcome, VerifiedEvent):
                events.append(outcome)
            else:
                rejects.append(outcome)
        return events, rejects

    def _poison(self, message: ReceivedMessage) -> QuarantineEntry | None:
        attempts = self._attempts.get(attempt_store.fingerprint(message), 1)
        if attempts <= POISON_AFTER:
            return None
        return QuarantineEntry(
            message,
            Rejection.POISON,
            f"{attempts - 1} attempts at this message ended with the worker dying; "
            "not processed again",
            _device_of(message),
            None,
        )

    def _store(
        self, events: list[VerifiedEvent], rejects: list[QuarantineEntry]
    ) -> store.BatchResult:
        if self._conn is None or self._conn.closed:
            self._connect_database()
        assert self._conn is not None
        try:
            with self._conn.transaction():
                result = store.store_batch(
                    self._conn,
                    events,
                    rejects,
                    seq_window=self.settings.ingest_seq_window,
                    tag_clock_tolerance=self._tag_clock_tolerance,
                )
                self._finish_attempt()
                return result
        except psycopg.Error as exc:
            fault = classify(exc)
            if fault.kind is ErrorClass.TRANSIENT:
                raise TransientStoreError(fault) from exc
            # A row the database refuses for its own data must not block the batch forever
            # (it would be redelivered and refused again), and a race on a dedup key is settled
            # by storing again: store event by event, quarantining only a refused row.
            log.error("batch refused (%s); storing one by one", fault.detail)
            return self._store_one_by_one(events, rejects)

    def _store_one_by_one(
        self, events: list[VerifiedEvent], rejects: list[QuarantineEntry]
    ) -> store.BatchResult:
        assert self._conn is not None
        stored = duplicates = late = 0
        refused: list[QuarantineEntry] = []
        ruled: list[QuarantineEntry] = []
        outcomes: list[EventOutcome] = []
        for event in events:
            one, fault = self._store_one(event)
            if fault is not None:
                refused.append(
                    QuarantineEntry(
                        event.message,
                        Rejection.STORE_ERROR,
                        fault.detail,
                        event.claims.device_id,
                        event.claims.event_id,
                    )
                )
                continue
            assert one is not None
            stored += one.stored
            duplicates += one.duplicates
            late += one.late_arriving
            ruled.extend(one.rejected)
            outcomes.extend(one.outcomes)
        try:
            with self._conn.transaction():
                store.store_batch(self._conn, [], [*rejects, *refused])
                self._finish_attempt()
        except psycopg.Error as exc:
            # The events stored one by one are committed: a retry finds them as duplicates.
            raise TransientStoreError(classify(exc)) from exc
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

    def _store_one(
        self, event: VerifiedEvent
    ) -> tuple[store.BatchResult | None, StoreFault | None]:
        """One event in its own transaction: its result, or the fault of its own data.

        A transient fault raises (the whole batch is retried); a race on a dedup key is tried
        again, when the sequence rules see the other worker's row."""
        assert self._conn is not None
        for attempt in range(1, DEDUP_RACE_TRIES + 1):
            try:
                with self._conn.transaction():
                    return (
                        store.store_batch(
                            self._conn,
                            [event],
                            [],
                            seq_window=self.settings.ingest_seq_window,
                            tag_clock_tolerance=self._tag_clock_tolerance,
                        ),
                        None,
                    )
            except psycopg.Error as exc:
                fault = classify(exc)
                if fault.kind is ErrorClass.ROW_DATA:
                    return None, fault
                if fault.kind is ErrorClass.TRANSIENT or attempt == DEDUP_RACE_TRIES:
                    raise TransientStoreError(fault) from exc
        raise AssertionError("unreachable")

    def _finish_attempt(self) -> None:
        """Forget the attempt at the part in hand, in the transaction that stores it.

        A message quarantined as poison keeps the old attempts that condemned it: a handset
        resends what it holds no receipt for (and a poison message has none), so each later
        delivery is quarantined as poison again without being processed."""
        assert self._conn is not None and self._attempt is not None
        redone = [f for f, n in self._attempts.items() if 1 < n <= POISON_AFTER]
        attempt_store.finish(self._conn, self._attempt, redone)

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


def _exception_detail(exc: BaseException) -> str:
    """The quarantine detail of an unexpected exception: its type and first line, bounded."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return detail if len(detail) <= 300 else f"{detail[:297]}..."


def _device_of(message: ReceivedMessage) -> str | None:
    """The device whose topic carried the message, for a quarantine entry; None if none."""
    try:
        return device_from_topic(message.topic)
    except Rejected:
        return None
