"""The (device, seq) pairs ingest has admitted (table device_sequence), read and written inside
the batch transaction; ingest/sequence.py judges each new event against them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

import psycopg

SeqKey = tuple[str, int]


def lock_devices(cur: psycopg.Cursor, devices: Sequence[str]) -> None:
    # Transaction-scoped, taken in the caller's (sorted) order, so two batches holding events
    # of the same devices never deadlock: the second waits here until the first commits.
    cur.execute(
        "select count(pg_advisory_xact_lock(hashtextextended(d, 4242))) "
        "from unnest(%s::text[]) as u(d)",
        (list(devices),),
    )


def highest_seqs(cur: psycopg.Cursor, devices: Sequence[str]) -> dict[str, int | None]:
    """Each device's highest admitted seq (None for a device with none yet)."""
    cur.execute(
        "select d, (select max(seq) from device_sequence where device_id = d) "
        "from unnest(%s::text[]) as u(d)",
        (list(devices),),
    )
    return dict(cur.fetchall())


def holders(cur: psycopg.Cursor, keys: Sequence[SeqKey]) -> dict[SeqKey, UUID]:
    """The event id already holding each of these (device, seq) pairs, where one does."""
    cur.execute(
        "select s.device_id, s.seq, s.event_id from device_sequence s "
        "join unnest(%s::text[], %s::int8[]) as k(d, q) on s.device_id = k.d and s.seq = k.q",
        ([d for d, _ in keys], [q for _, q in keys]),
    )
    return {(d, q): event_id for d, q, event_id in cur.fetchall()}


def owners(cur: psycopg.Cursor, event_ids: Sequence[UUID]) -> dict[UUID, SeqKey]:
    """The (device, seq) under which each of these event ids is already held."""
    cur.execute(
        "select event_id, device_id, seq from device_sequence where event_id = any(%s::uuid[])",
        (list(event_ids),),
    )
    return {event_id: (d, q) for event_id, d, q in cur.fetchall()}


def stored_tokens(cur: psycopg.Cursor, keys: Iterable[SeqKey]) -> dict[SeqKey, str]:
    """The stored token (raw JWS) of each (device, seq), the first stored copy where several are:
    before sequences were kept a seq could be stored twice, and the first is the original. A
    held seq whose event retention has purged has none."""
    ordered = sorted(keys)
    if not ordered:
        return {}
    cur.execute(
        "select distinct on (e.device_id, e.seq) e.device_id, e.seq, e.raw_jws "
        "from device_event e join unnest(%s::text[], %s::int8[]) as k(d, q) "
        "on e.device_id = k.d and e.seq = k.q order by e.device_id, e.seq, e.stored_at",
        ([d for d, _ in ordered], [q for _, q in ordered]),
    )
    return {(d, q): raw for d, q, raw in cur.fetchall()}


def record(cur: psycopg.Cursor, admitted: Sequence[tuple[str, int, UUID]]) -> None:
    """Hold each newly admitted (device, seq) for its event; the primary key on (device_id, seq)
    refuses a second holder whatever the interleaving of workers."""
    if not admitted:
        return
    cur.execute(
        "insert into device_sequence (device_id, seq, event_id) "
        "select * from unnest(%s::text[], %s::int8[], %s::uuid[])",
        ([d for d, _, _ in admitted], [q for _, q, _ in admitted], [e for _, _, e in admitted]),
    )
