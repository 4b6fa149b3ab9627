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

from ecm.db import connect, wait_for_database
from ecm.settings import Settings
from gateway.protocol import Rejection
from ingest import store
from ingest.consumer import Consumer
from ingest.directory import Directory
from ingest.verify import QuarantineEntry, ReceivedMessage, VerifiedEvent, verify

log = logging.getLogger("ecm.ingest")

STATS_EVERY_S = 10.0


@dataclass
class Counters:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


class Worker:
    def __init__(self, settings: Settings, worker_index: int = 0) -> None:
        self.settings = settings
        self._tag_clock_tolerance = timedelta(seconds=settings.ingest_tag_clock_tolerance_s)
        self.consumer = Consumer(settings, worker_index)
        self.counters = Counters()
        self.stopping = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._directory: Directory | None = None

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
        # Drain while still connected, so the final acknowledgements reach the broker; anything
        # delivered after this is redelivered to the session later and deduplicated then.
        while batch := self._take_batch(wait=False):
            self._commit_then_ack(batch, final=True)
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

    def _take_batch(self, wait: bool = True) -> list[ReceivedMessage]:
        inbox = self.consumer.inbox
        batch: list[ReceivedMessage] = []
        try:
            batch.append(inbox.get(timeout=0.2) if wait else inbox.get_nowait())
        except queue.Empty:
            return batch
        deadline = time.monotonic() + self.settings.ingest_batch_wait_ms / 1000
        while len(batch) < self.settings.ingest_batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(inbox.get(timeout=remaining) if remaining > 0 else inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _commit_then_ack(self, batch: list[ReceivedMessage], final: bool = False) -> None:
        delay = 0.5
        while True:
            try:
                result, rejects = self._store(batch)
                break
            except psycopg.OperationalError as exc:
                # The database is away: keep the batch unacknowledged (the broker keeps it too)
                # and retry; on a final drain give up and let the broker redeliver on restart.
                log.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
                self._drop_connection()
                if final:
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.consumer.ack(batch)
        counters = self.counters
        counters.batches += 1
        counters.received += len(batch)
        counters.stored += result.stored
        counters.duplicates += result.duplicates
        counters.quarantined += result.quarantined
        for entry in rejects:
            counters.by_reason[entry.reason] = counters.by_reason.get(entry.reason, 0) + 1
            log.info(
                "quarantined %s from %s: %s", entry.reason, entry.device_id or "?", entry.detail
            )

    def _store(
        self, batch: list[ReceivedMessage]
    ) -> tuple[store.BatchResult, list[QuarantineEntry]]:
        if self._conn is None or self._directory is None or self._conn.closed:
            self._connect_database()
        assert self._conn is not None and self._directory is not None
        events: list[VerifiedEvent] = []
        rejects: list[QuarantineEntry] = []
        for message in batch:
            outcome = verify(message, self._directory)
            if isinstance(outcome, VerifiedEvent):
                events.append(outcome)
            else:
                rejects.append(outcome)
        try:
            with self._conn.transaction():
                result = store.store_batch(self._conn, events, rejects, self._tag_clock_tolerance)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            # A row the database refuses must not block the batch forever (it would be
            # redelivered and refused again): store the rest, quarantine that one with the error.
            log.error("batch refused (%s); storing one by one", exc)
            return self._store_one_by_one(events, rejects)
        return result, [*rejects, *result.replayed]  # replays are judged in the transaction

    def _store_one_by_one(
        self, events: list[VerifiedEvent], rejects: list[QuarantineEntry]
    ) -> tuple[store.BatchResult, list[QuarantineEntry]]:
        assert self._conn is not None
        stored = duplicates = 0
        for event in events:
            try:
                with self._conn.transaction():
                    one = store.store_batch(self._conn, [event], [], self._tag_clock_tolerance)
                stored += one.stored
                duplicates += one.duplicates
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                rejects.append(
                    QuarantineEntry(
                        event.message,
                        Rejection.STORE_ERROR,
                        str(exc).strip(),
                        event.claims.device_id,
                        event.claims.event_id,
                    )
                )
        with self._conn.transaction():
            store.store_batch(self._conn, [], rejects)
        return store.BatchResult(stored, duplicates, len(rejects)), rejects

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
            store.prepare(self._conn)
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
            "received=%d stored=%d duplicates=%d quarantined=%d batches=%d by_reason=%s",
            c.received,
            c.stored,
            c.duplicates,
            c.quarantined,
            c.batches,
            c.by_reason,
        )
