"""Per-device sequence rules, applied inside the batch transaction before events are stored.

A handset numbers its events 0, 1, 2, ... and keeps each in its outbox until the broker has it,
so the same event may arrive many times (a redelivery, harmless: the same signed bytes) but a
second, different event never legitimately carries a seq the device already used. Such an event
is a replay (`seq_replayed`); one far behind the device's highest stored seq is `seq_too_old`.
An event id that comes again with different signed bytes (under the same seq, another seq, or
another device) is a `conflict`: the stored original stays, the newcomer goes to quarantine.

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
from ingest import sequence_store
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
    sequence_store.lock_devices(cur, devices)
    highest = sequence_store.highest_seqs(cur, devices)
    holder = sequence_store.holders(cur, [(e.claims.device_id, e.claims.seq) for e in events])
    # Where each event id is already held; an id held under another (device, seq) is reused.
    owner = sequence_store.owners(cur, [e.claims.event_id for e in events])
    # The signed bytes of each held (device, seq) a batch event claims with the same event id:
    # only an identical copy is a redelivery.
    claimed = {
        (e.claims.device_id, e.claims.seq)
        for e in events
        if holder.get((e.claims.device_id, e.claims.seq)) == e.claims.event_id
    }
    signed = {
        key: signed_bytes(token)
        for key, token in sequence_store.stored_tokens(cur, claimed).items()
    }

    accepted: list[VerifiedEvent] = []
    rejected: list[QuarantineEntry] = []
    new_keys: list[tuple[str, int, UUID]] = []
    duplicates = 0
    for event in events:
        claims = event.claims
        key = (claims.device_id, claims.seq)
        held_by = holder.get(key)
        if held_by == claims.event_id:
            original = signed.get(key)
            if original is None or original == signed_bytes(event.message.payload):
                # A redelivery of an event stored before, or admitted earlier in this batch.
                duplicates += 1
                continue
            rejected.append(
                _quarantine(
                    event,
                    Rejection.CONFLICT,
                    f"event {claims.event_id} (seq {claims.seq} of device {claims.device_id!r})"
                    " is already stored with different signed bytes; the stored original is "
                    "kept",
                )
            )
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
        first = owner.get(claims.event_id)
        if first is not None:
            rejected.append(
                _quarantine(
                    event,
                    Rejection.CONFLICT,
                    f"event id {claims.event_id} is already stored as seq {first[1]} of device "
                    f"{first[0]!r}, with different signed bytes; the stored original is kept",
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
        owner[claims.event_id] = key
        signed[key] = signed_bytes(event.message.payload)
        highest[claims.device_id] = claims.seq if high is None else max(high, claims.seq)
        new_keys.append((claims.device_id, claims.seq, claims.event_id))
        accepted.append(event)

    sequence_store.record(cur, new_keys)
    return Admission(accepted, rejected, duplicates)


def signed_bytes(token: bytes | str) -> bytes:
    """What the device signed: the JWS signing input (protected header and payload), without
    the whitespace around the token that parsing ignores too. Ed25519 signs deterministically,
    so equal signing input from a verified device is the same event, byte for byte."""
    raw = token.encode("ascii") if isinstance(token, str) else token
    return raw.strip().rpartition(b".")[0]


def _quarantine(event: VerifiedEvent, reason: Rejection, detail: str) -> QuarantineEntry:
    claims = event.claims
    return QuarantineEntry(event.message, reason, detail, claims.device_id, claims.event_id)
