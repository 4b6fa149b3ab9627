"""Per-device sequence rules, applied inside the batch transaction before events are stored.

A handset numbers its events 0, 1, 2, ... and keeps each in its outbox until the broker has it,
so the same event may arrive many times (a redelivery, harmless: same event id) but a second,
different event never legitimately carries a seq the device already used. Such an event is a
replay (`seq_replayed`); one far behind the device's highest stored seq is `seq_too_old`.

Ingest workers run in parallel, so two batches may hold events of the same device at once. A
transaction-scoped advisory lock per device, taken in sorted order (no deadlock between
batches), makes the check-then-insert below serial per device; device_sequence's primary key
on (device_id, seq) is the backstop that no interleaving can get past.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import psycopg

from gateway.protocol import Rejection
from ingest.verify import QuarantineEntry, VerifiedEvent


@dataclass(frozen=True)
class Admission:
    # New events, each (device, seq) once: to be stored.
    accepted: list[VerifiedEvent]
    rejected: list[QuarantineEntry]
    # Copies of events already stored, or repeated within the batch: counted, not stored.
    duplicates: int = 0


def admit(cur: psycopg.Cursor, events: Sequence[VerifiedEvent], window: int) -> Admission:
    """Split a batch into new events, duplicates and sequence-rule quarantines, in arrival order.

    Records each newly accepted (device, seq) in device_sequence; the caller stores the events
    in the same transaction, so both commit or neither does.
    """
    if not events:
        return Admission([], [])
    devices = sorted({event.claims.device_id for event in events})
    cur.execute(
        "select count(pg_advisory_xact_lock(hashtextextended(d, 4242))) "
        "from unnest(%s::text[]) as u(d)",
        (devices,),
    )
    cur.execute(
        "select d, (select max(seq) from device_sequence where device_id = d) "
        "from unnest(%s::text[]) as u(d)",
        (devices,),
    )
    highest: dict[str, int | None] = dict(cur.fetchall())
    cur.execute(
        "select s.device_id, s.seq, s.event_id from device_sequence s "
        "join unnest(%s::text[], %s::int8[]) as k(d, q) on s.device_id = k.d and s.seq = k.q",
        ([e.claims.device_id for e in events], [e.claims.seq for e in events]),
    )
    holder: dict[tuple[str, int], UUID] = {(d, q): event_id for d, q, event_id in cur.fetchall()}

    accepted: list[VerifiedEvent] = []
    rejected: list[QuarantineEntry] = []
    new_keys: list[tuple[str, int, UUID]] = []
    duplicates = 0
    for event in events:
        claims = event.claims
        key = (claims.device_id, claims.seq)
        held_by = holder.get(key)
        if held_by == claims.event_id:
            # A redelivery of an event stored before, or admitted earlier in this batch.
            duplicates += 1
            continue
        if held_by is not None:
            rejected.append(
                _quarantine(
                    event,
                    Rejection.SEQ_REPLAYED,
                    f"seq {claims.seq} of device {claims.device_id!r} is already held by event "
                    f"{held_by}",
                )
            )
            continue
        high = highest.get(claims.device_id)
        if high is not None and claims.seq < high - window:
            rejected.append(
                _quarantine(
                    event,
                    Rejection.SEQ_TOO_OLD,
                    f"seq {claims.seq} is {high - claims.seq} behind the device's highest stored "
                    f"seq {high} (window {window})",
                )
            )
            continue
        holder[key] = claims.event_id
        highest[claims.device_id] = claims.seq if high is None else max(high, claims.seq)
        new_keys.append((claims.device_id, claims.seq, claims.event_id))
        accepted.append(event)

    if new_keys:
        devices_, seqs, event_ids = zip(*new_keys, strict=True)
        cur.execute(
            "insert into device_sequence (device_id, seq, event_id) "
            "select * from unnest(%s::text[], %s::int8[], %s::uuid[])",
            (list(devices_), list(seqs), list(event_ids)),
        )
    return Admission(accepted, rejected, duplicates)


def _quarantine(event: VerifiedEvent, reason: Rejection, detail: str) -> QuarantineEntry:
    claims = event.claims
    return QuarantineEntry(event.message, reason, detail, claims.device_id, claims.event_id)
