"""The event store's write side: one COPY per batch, idempotent on the event's unique key.

Rows are copied into a session-local staging table and moved with ON CONFLICT DO NOTHING, so a
redelivered event (the broker resends anything not yet acknowledged) is counted, not stored twice.
The caller owns the transaction and acknowledges the batch only after it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import psycopg
from psycopg.types.json import Jsonb

from ingest import sequence
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


def prepare(conn: psycopg.Connection) -> None:
    """Per-connection staging table; ON COMMIT DELETE ROWS empties it with each batch."""
    columns = ", ".join(
        f"{name} {type_}" for name, type_ in zip(EVENT_COLUMNS, EVENT_TYPES, strict=True)
    )
    with conn.transaction():
        conn.execute(
            f"create temp table if not exists staged_event ({columns}) on commit delete rows"
        )


def store_batch(
    conn: psycopg.Connection,
    events: Sequence[VerifiedEvent],
    rejects: Sequence[QuarantineEntry],
    *,
    seq_window: int = DEFAULT_SEQ_WINDOW,
    tag_clock_tolerance: timedelta = DEFAULT_CLOCK_TOLERANCE,
) -> BatchResult:
    stored = late = 0
    with conn.cursor() as cur:
        # Sequence rules first; the tag counters then judge only events they admitted.
        admission = sequence.admit(cur, events, seq_window)
        events, replayed_taps = judge_taps(conn, admission.accepted, tag_clock_tolerance)
        ruled = [*admission.rejected, *replayed_taps]
        rejects = [*rejects, *ruled]
        if events:
            with cur.copy(f"copy staged_event ({_COLUMNS}) from stdin (format binary)") as copy:
                copy.set_types(list(EVENT_TYPES))
                for event in events:
                    copy.write_row(event_row(event))
            cur.execute(
                f"insert into device_event ({_COLUMNS}) select {_COLUMNS} from staged_event "
                "on conflict do nothing returning late_arriving"
            )
            stored = cur.rowcount
            late = sum(1 for (late_arriving,) in cur.fetchall() if late_arriving)
        if rejects:
            with cur.copy(
                f"copy quarantined_message ({', '.join(QUARANTINE_COLUMNS)}) "
                "from stdin (format binary)"
            ) as copy:
                copy.set_types(list(QUARANTINE_TYPES))
                for entry in rejects:
                    copy.write_row(_quarantine_row(entry))
    return BatchResult(
        stored=stored,
        duplicates=len(events) - stored,
        quarantined=len(rejects),
        rejected=tuple(ruled),
        late_arriving=late,
    )


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
        Jsonb(claims.model_dump(mode="json", exclude_none=True)),
        evidence.tag_counter,
        evidence.totp_verified,
        evidence.gps_distance_m,
        evidence.gps_within_fence,
        evidence.level,
        evidence.late_arriving,
    )


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
