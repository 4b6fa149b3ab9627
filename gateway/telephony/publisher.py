"""The bridge's outbox publisher: every signed event reaches ingest, however often it takes.

A call's event is committed to `telephony_event` before the carer hears "checked in" (the
bridge's outbox, as a handset's is its local storage). This loop sends what is unreceipted:
at once when a call wakes it, and every `interval_s` anyway. An event leaves the outbox
(`published_at` is set) only when ingest's receipt names it (protocol v1.1), not on the
broker's PUBACK, which a broker crash or a full queue can undo. A sent event keeps its lease
for LEASE_S: that is its receipt timeout, after which it is claimed and sent again; one whose
publish failed (broker down, no ingest session to route it to) is released for the next pass.
Claims are leased, not held in an open transaction, so no transaction waits on the network;
ingest deduplicates what is sent twice and receipts it again.
"""

from __future__ import annotations

import logging
import threading
from uuid import UUID

from sqlalchemy import Engine

from gateway.protocol import ReceiptEntry
from gateway.telephony import repository
from gateway.telephony.uplink import BridgeUplink

log = logging.getLogger("ecm.telephony")

BATCH = 100
LEASE_S = 60.0


class Publisher:
    def __init__(
        self,
        engine: Engine,
        uplink: BridgeUplink,
        *,
        interval_s: float = 2.0,
        timeout_s: float = 10.0,
    ) -> None:
        self._engine = engine
        self._uplink = uplink
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._receipted: list[UUID] = []
        self._receipts_lock = threading.Lock()
        self.published = 0
        self.receipted = 0
        uplink.on_receipt = self.on_receipt

    def on_receipt(self, device_id: str, entries: list[ReceiptEntry]) -> None:
        """Any outcome releases the event: stored, duplicate or quarantined, ingest has it."""
        with self._receipts_lock:
            self._receipted.extend(entry.event_id for entry in entries)
        self._wake.set()

    def release_receipted(self) -> int:
        with self._receipts_lock:
            receipted, self._receipted = self._receipted, []
        if receipted:
            with self._engine.begin() as conn:
                repository.mark_published(conn, receipted)
            self.receipted += len(receipted)
        return len(receipted)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="telephony-publisher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout_s + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.release_receipted()
                sent = self.publish_pending()
            except Exception:  # a database or broker fault: log it and try again later
                log.exception("publishing the telephony outbox failed; retrying")
                sent = 0
            if sent == 0:
                self._wake.wait(self._interval_s)
                self._wake.clear()

    def publish_pending(self) -> int:
        """One pass: claim a batch and publish it; what the broker routed keeps its lease
        until its receipt (or the lease's end, when it is sent again)."""
        with self._engine.begin() as conn:
            pending = repository.claim_pending(conn, BATCH, LEASE_S)
        if not pending:
            return 0
        done, failed = [], []
        for event in pending:
            if self._uplink.publish(event.device_id, event.jws, self._timeout_s):
                done.append(event.event_id)
            else:
                failed.append(event.event_id)
        with self._engine.begin() as conn:
            repository.release(conn, failed)
        if failed:
            log.warning("%d telephony events not routed by the broker; kept for retry", len(failed))
        self.published += len(done)
        return len(done)
