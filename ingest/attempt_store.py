"""Durable counts of attempts at each message, so a message that kills workers is recognised.

A worker records an attempt at every message of a batch, in a transaction of its own that
commits before the batch is processed, and the transaction that stores the batch deletes them.
A count still there on the next delivery means a worker died (or was killed) holding that
message: ingest.worker then processes it alone (recording attempts only at the message in
hand, so the ones waiting behind a killer are not blamed), and after POISON_AFTER such
attempts quarantines it as `poison` instead of processing it again.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence

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


def recorded(conn: psycopg.Connection, messages: Sequence[ReceivedMessage]) -> dict[bytes, int]:
    """The attempts still recorded at any of these messages (none, unless a worker died)."""
    rows = conn.execute(
        "select fingerprint, attempts from ingest_attempt where fingerprint = any(%s)",
        ([fingerprint(message) for message in messages],),
    ).fetchall()
    return {bytes(f): int(n) for f, n in rows}


def record(conn: psycopg.Connection, messages: Sequence[ReceivedMessage]) -> dict[bytes, int]:
    """Count one more attempt at each message and commit; returns each fingerprint's count.

    The commit need not wait for the disk (synchronous_commit off): a worker that dies leaves
    the record in the server's memory, which outlives it; only a database crash could lose it,
    and that is not a message's fault.
    """
    topics = {fingerprint(message): message.topic for message in messages}
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("set local synchronous_commit = off")
        cur.execute(
            "insert into ingest_attempt (fingerprint, topic, attempts) "
            "select f, t, 1 from unnest(%s::bytea[], %s::text[]) as u(f, t) "
            "on conflict (fingerprint) do update "
            "set attempts = ingest_attempt.attempts + 1, last_at = now() "
            "returning fingerprint, attempts",
            (list(topics), list(topics.values())),
        )
        return {bytes(f): int(n) for f, n in cur.fetchall()}


def clear(conn: psycopg.Connection, fingerprints: Iterable[bytes]) -> None:
    """Forget the attempts at messages now stored or quarantined (in the storing transaction)."""
    conn.execute("delete from ingest_attempt where fingerprint = any(%s)", (list(fingerprints),))
