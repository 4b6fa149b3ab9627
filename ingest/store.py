"""The event store's write side: one COPY per batch, idempotent on the device's sequence.

A redelivered event (the broker resends anything not yet acknowledged) is recognised by the
sequence rules before anything is written: its (device, seq) is already held by the same event
id, in device_sequence, which commits in the same transaction as device_event. So the batch's
new events are copied straight into device_event, and a redelivery is counted, not stored
twice. The caller owns the transaction and acknowledges the batch only after it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import psycopg
from psycopg.types.json import Jsonb

from gateway.protocol import Outcome
from ingest import sequence
from ingest.receipts import EventOutcome
from ingest.tag_counters import DEFAULT_CLOCK_TOLERANCE, judge_taps
from ingest.verify import QuarantineEntry, VerifiedEvent

# How far behind a device's highest stored seq an event may be (Settings.ingest_seq_window).
DEFAULT_SEQ_WINDOW = 1000

EVENT_COLUMNS = (
    "event_id",
    "device_time",
    "received_at",
    "device_id",
    "provider_id",
    "carer_id",
    "service_user_id",
    "seq",
    "event_type",
    "tag_uid",
    "gps_lat",
    "gps_lon",
    "gps_accuracy_m",
    "gps_fix_time",
    "protocol_version",
    "topic",
    "raw_jws",
    "claims",
    "tag_counter",
    "totp_verified",
    "gps_distance_m",
    "gps_within_fence",
    "evidence_level",
    "late_arriving",
)
EVENT_TYPES = (
    "uuid",
    "timestamptz",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
    "int8",
    "text",
    "text",
    "float8",
    "float8",
    "float4",
    "timestamptz",
    "int2",
    "text",
    "text",
    "jsonb",
    "int8",
    "bool",
    "float4",
    "bool",
    "text",
    "bool",
)
QUARANTINE_COLUMNS = (
    "received_at",
    "topic",
    "payload",
    "reason",
    "detail",
    "device_id",
    "event_id",
)
QUARANTINE_TYPES = ("timestamptz", "text", "bytea", "text", "text", "text", "uuid")

_COLUMNS = ", ".join(EVENT_COLUMNS)


@dataclass(frozen=True)
class BatchResult:
    stored: int
    duplicates: int
    quarantined: int
    # Quarantined here by the sequence and tag-counter rules, on top of the rejects the caller
    # passed in.
    rejected: tuple[QuarantineEntry, ...] = ()
    # Stored events that arrived late (the handset was offline), for the operators' counters.
    late_arriving: int = 0
    # Each message's outcome in this transaction, for the handsets' receipts (ingest.receipts).
    outcomes: tuple[EventOutcome, ...] = ()


def store_batch(
    conn: psycopg.Connection,
    events: Sequence[VerifiedEvent],
    rejects: Sequence[QuarantineEntry],
    *,
    seq_window: int = DEFAULT_SEQ_WINDOW,
    tag_clock_tolerance: timedelta = DEFAULT_CLOCK_TOLERANCE,
) -> BatchResult:
    with conn.cursor() as cur:
        # Sequence rules first; the tag counters then judge only events they admitted.
        admission = sequence.admit(cur, events, seq_window)
        fresh, replayed_taps = judge_taps(conn, admission.accepted, tag_clock_tolerance)
        ruled = [*admission.rejected, *replayed_taps]
        rejects = [*rejects, *ruled]
        if fresh:
            # A unique violation here (an event id reused under a new seq) fails the batch; the
            # worker then stores it event by event and quarantines the one refused.
            with cur.copy(f"copy device_event ({_COLUMNS}) from stdin (format binary)") as copy:
                copy.set_types(list(EVENT_TYPES))
                for event in fresh:
                    copy.write_row(event_row(event))
        if rejects:
            with cur.copy(
                f"copy quarantined_message ({', '.join(QUARANTINE_COLUMNS)}) "
                "from stdin (format binary)"
            ) as copy:
                copy.set_types(list(QUARANTINE_TYPES))
                for entry in rejects:
                    copy.write_row(_quarantine_row(entry))
    return BatchResult(
        stored=len(fresh),
        duplicates=admission.duplicates,
        quarantined=len(rejects),
        rejected=tuple(ruled),
        late_arriving=sum(1 for event in fresh if event.evidence.late_arriving),
        outcomes=outcomes(events, fresh, rejects),
    )


def outcomes(
    events: Sequence[VerifiedEvent],
    fresh: Sequence[VerifiedEvent],
    rejects: Sequence[QuarantineEntry],
) -> tuple[EventOutcome, ...]:
    """Every message's outcome: stored, quarantined with its reason, and the rest duplicates.

    A verified event that was neither stored nor quarantined was admitted as a redelivery of
    an event already held (sequence.admit): a duplicate.
    """
    stored = {id(event.message) for event in fresh}
    quarantined = {id(entry.message) for entry in rejects}
    result = [
        EventOutcome(
            event.message.topic,
            event.claims.event_id,
            Outcome.STORED if id(event.message) in stored else Outcome.DUPLICATE,
        )
        for event in events
        if id(event.message) not in quarantined
    ]
    result += [
        EventOutcome(entry.message.topic, entry.event_id, Outcome.QUARANTINED, entry.reason)
        for entry in rejects
    ]
    return tuple(result)


def event_row(event: VerifiedEvent) -> tuple[object, ...]:
    """The stored row of a verified event, in EVENT_COLUMNS order."""
    claims = event.claims
    gps = claims.gps
    evidence = event.evidence
    return (
        claims.event_id,
        claims.device_time,
        event.message.received_at,
        claims.device_id,
        event.provider_id,
        claims.carer_id,
        claims.service_user_id,
        claims.seq,
        claims.type.value,
        evidence.tag_uid,
        gps.lat if gps else None,
        gps.lon if gps else None,
        gps.accuracy_m if gps else None,
        gps.fix_time if gps else None,
        claims.ver,
        event.message.topic,
        event.message.payload.decode("ascii"),
        # Serialised by pydantic's core: about twice as fast as model_dump() and json.dumps().
        Jsonb(claims.model_dump_json(exclude_none=True), dumps=_as_is),
        evidence.tag_counter,
        evidence.totp_verified,
        evidence.gps_distance_m,
        evidence.gps_within_fence,
        evidence.level,
        evidence.late_arriving,
    )


def _as_is(text: str) -> str:
    return text


def _quarantine_row(entry: QuarantineEntry) -> tuple[object, ...]:
    return (
        entry.message.received_at,
        entry.message.topic,
        entry.message.payload,
        entry.reason.value,
        entry.detail,
        entry.device_id,
        entry.event_id,
    )


def ensure_partitions(conn: psycopg.Connection) -> str | None:
    """Keep monthly partitions ahead of the calendar on plain PostgreSQL (hypertables self-manage).

    Returns why it could not, instead of raising: a month whose events already sit in the
    default partition (a device clock set years ahead) must not stop ingest from starting.
    """
    try:
        with conn.transaction():
            exists = conn.execute(
                "select 1 from pg_proc where proname = 'ecm_ensure_event_partitions'"
            ).fetchone()
            if exists:
                conn.execute(
                    "select ecm_ensure_event_partitions(date_trunc('month', now())::date, 24)"
                )
    except psycopg.Error as exc:
        return str(exc)
    return None
