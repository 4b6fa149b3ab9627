"""Durable records of attempts at messages, so a message that kills workers is recognised.

Before processing a batch, a worker records it (one row: the fingerprints of its messages) in a
transaction of its own; the transaction that stores the batch deletes the row. A row still
there means a worker died (or was killed, or gave up with the database away) holding those
messages. A message found in such rows is processed alone, with a row of its own, so only its
own count grows (the messages waiting behind a killer are not blamed); once stored or
quarantined it is taken out of the old rows. ingest.worker quarantines a message as `poison`
when the rows holding it say it has been attempted more than POISON_AFTER times.

One row per batch, not per message: the normal path costs one small insert and one delete by
key per batch, whatever its size.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

import psycopg

from ingest.verify import ReceivedMessage


def fingerprint(message: ReceivedMessage) -> bytes:
    """SHA-256 of the topic, a NUL (no topic contains one) and the payload."""
    return _digest(message.topic, message.payload)


# A message's fingerprint is needed a few times on its way (split, record, clear): computed once
# while it is in hand (a batch is 500 by default; payloads are at most 16 KiB).
@functools.lru_cache(maxsize=2048)
def _digest(topic: str, payload: bytes) -> bytes:
    return hashlib.sha256(topic.encode() + b"\0" + payload).digest()


def held(conn: psycopg.Connection, fingerprints: Sequence[bytes]) -> dict[bytes, int]:
    """How many recorded attempts hold each of these messages (normally none).

    The rows are the batches in progress (one per worker) and those left by workers that died:
    a handful, so they are read whole and matched here, in a set, rather than compared
    element by element in SQL (500 x 500 comparisons per row).
    """
    wanted = set(fingerprints)
    counts: dict[bytes, int] = {}
    with conn.cursor(binary=True) as cur:
        for (stored,) in cur.execute("select fingerprints from ingest_attempt"):
            for f in wanted.intersection(bytes(item) for item in stored):
                counts[f] = counts.get(f, 0) + 1
    return counts


def record(conn: psycopg.Connection, fingerprints: Sequence[bytes]) -> int:
    """Record an attempt at these messages and commit (one statement on the worker's autocommit
    connection); returns the row's id.

    The commit need not wait for the disk (synchronous_commit off for this transaction only):
    a worker that dies leaves the row in the server, which outlives it; only a database crash
    could lose it, and that is not a message's fault.
    """
    row = conn.execute(
        "insert into ingest_attempt (fingerprints) "
        "select %s::bytea[] from (select set_config('synchronous_commit', 'off', true)) as r "
        "returning id",
        (list(fingerprints),),
    ).fetchone()
    assert row is not None
    return int(row[0])


def finish(conn: psycopg.Connection, attempt: int, redone: Sequence[bytes] = ()) -> None:
    """In the transaction that stores the batch: forget its attempt and, for messages that were
    held by earlier attempts (`redone`), take them out of those rows."""
    conn.execute("delete from ingest_attempt where id = %s", (attempt,))
    if redone:
        conn.execute(
            "update ingest_attempt set fingerprints = array("
            "select f from unnest(fingerprints) as f where not f = any(%s::bytea[])) "
            "where fingerprints && %s::bytea[]",
            (list(redone), list(redone)),
        )
        conn.execute("delete from ingest_attempt where cardinality(fingerprints) = 0")
