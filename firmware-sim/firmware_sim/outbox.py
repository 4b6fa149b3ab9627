"""A handset's outbox: every signed event on local disk until ingest's receipt names it.

As docs/protocol.md asks of a real handset: the finished JWS is written (and synced) before the
carer is told the tap is recorded; it is published, and deleted only when its receipt arrives
(protocol v1.1; a v1 handset deletes on the broker's PUBACK); after a crash or restart
everything still in the outbox is published again with the same bytes.
The outbox also keeps each handset's next sequence number, so seq never restarts at 0.

One SQLite file can hold the outboxes of many simulated handsets (rows are per device); with
synchronous=FULL every committed write has been fsynced, as a phone's storage would be.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from firmware_sim.handset import SignedVisitEvent

SCHEMA = """
create table if not exists handset (
    device_id text primary key,
    next_seq integer not null
);
create table if not exists outbox (
    event_id text primary key,
    device_id text not null,
    seq integer not null,
    topic text not null,
    payload blob not null,
    kept_at text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
create index if not exists outbox_order on outbox(device_id, seq);
"""


@dataclass(frozen=True)
class OutboxEntry:
    event_id: UUID
    device_id: str
    seq: int
    topic: str
    payload: bytes


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Written from the publishing thread and the MQTT network thread (acks): one lock.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("pragma journal_mode = wal")
        self._db.execute("pragma synchronous = full")
        self._db.executescript(SCHEMA)

    def next_seq(self, device_id: str) -> int:
        with self._lock:
            row = self._db.execute(
                "select next_seq from handset where device_id = ?", (device_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def keep(self, events: Sequence[SignedVisitEvent]) -> None:
        """Write events and advance their handsets' seq, in one synced transaction."""
        if not events:
            return
        with self._lock:
            self._db.execute("begin immediate")
            try:
                self._db.executemany(
                    "insert or ignore into outbox (event_id, device_id, seq, topic, payload) "
                    "values (?, ?, ?, ?, ?)",
                    [
                        (str(e.event_id), e.claims.device_id, e.claims.seq, e.topic, e.payload)
                        for e in events
                    ],
                )
                self._db.executemany(
                    "insert into handset (device_id, next_seq) values (?, ?) on conflict "
                    "(device_id) do update set next_seq = max(next_seq, excluded.next_seq)",
                    [(e.claims.device_id, e.claims.seq + 1) for e in events],
                )
                self._db.execute("commit")
            except BaseException:
                self._db.execute("rollback")
                raise

    def confirm(self, event_ids: Iterable[UUID]) -> int:
        """Receipted (or, for a v1 handset, PUBACKed): they may leave the outbox."""
        ids = [(str(event_id),) for event_id in event_ids]
        if not ids:
            return 0
        with self._lock:
            before = self._db.total_changes
            self._db.execute("begin immediate")
            self._db.executemany("delete from outbox where event_id = ?", ids)
            self._db.execute("commit")
            return self._db.total_changes - before

    def pending(self, device_id: str | None = None) -> list[OutboxEntry]:
        """What still waits for its receipt, oldest first per handset."""
        query = "select event_id, device_id, seq, topic, payload from outbox"
        args: tuple[str, ...] = ()
        if device_id is not None:
            query += " where device_id = ?"
            args = (device_id,)
        with self._lock:
            rows = self._db.execute(query + " order by device_id, seq", args).fetchall()
        return [OutboxEntry(UUID(r[0]), r[1], r[2], r[3], bytes(r[4])) for r in rows]

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("select count(*) from outbox").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()
