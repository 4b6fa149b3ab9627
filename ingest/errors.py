"""What a PostgreSQL error means for the batch that met it: retry it, or quarantine one row.

A passing fault must never become permanent. So only an error that the row's own data causes,
and that storing the same row again would meet again, may quarantine that row: a data exception
(SQLSTATE class 22: a number out of range, a string the column refuses) or an integrity
violation (class 23) on anything but the keys that recognise redeliveries. Everything else (the
connection, a shutdown, a read-only or full database, missing privileges, serialization
failures, deadlocks, lock timeouts, cancelled queries, and any code not named here) is retried
with backoff: the batch stays unacknowledged with the broker until it is stored.

An integrity violation on a dedup key (device_event's, or device_sequence's) is a race between
two workers admitting the same event or seq at once; storing again re-runs the sequence rules,
which then see the winner's row and call the event a duplicate, a replay or a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import psycopg

# Constraints that recognise a redelivery or a reused identity (ingest.sequence judges them).
_DEDUP_TABLES = ("device_event", "device_sequence")


class ErrorClass(StrEnum):
    # Retry the batch (never quarantine, never acknowledge until stored).
    TRANSIENT = "transient"
    # Two workers raced on a dedup key: store again, the sequence rules decide.
    DEDUP_RACE = "dedup_race"
    # The row's own data is refused: quarantine that row as store_error.
    ROW_DATA = "row_data"


@dataclass(frozen=True)
class StoreFault:
    kind: ErrorClass
    sqlstate: str
    message: str

    @property
    def detail(self) -> str:
        """The quarantine detail of a refused row: the SQLSTATE and the database's message."""
        return f"SQLSTATE {self.sqlstate}: {self.message}"


def classify(exc: BaseException) -> StoreFault:
    """The class of an error raised while storing; anything unrecognised is transient."""
    if not isinstance(exc, psycopg.Error):
        return StoreFault(ErrorClass.TRANSIENT, "", _message(exc))
    sqlstate = exc.sqlstate or ""
    message = _message(exc)
    if isinstance(exc, psycopg.OperationalError) or len(sqlstate) != 5:
        # Connection-level trouble (class 08, 57P01 ...) or no SQLSTATE at all (the client
        # lost the server before it could say): the server is away, not the row wrong.
        return StoreFault(ErrorClass.TRANSIENT, sqlstate, message)
    if sqlstate.startswith("22"):
        return StoreFault(ErrorClass.ROW_DATA, sqlstate, message)
    if sqlstate.startswith("23"):
        if _on_dedup_key(exc):
            return StoreFault(ErrorClass.DEDUP_RACE, sqlstate, message)
        return StoreFault(ErrorClass.ROW_DATA, sqlstate, message)
    return StoreFault(ErrorClass.TRANSIENT, sqlstate, message)


def _on_dedup_key(exc: psycopg.Error) -> bool:
    if exc.sqlstate != "23505":  # only a unique violation can be a race on a key
        return False
    diag = exc.diag
    table = diag.table_name or ""
    constraint = diag.constraint_name or ""
    # Partitions and hypertable chunks carry their own names for the parent's key.
    return any(table.startswith(name) or name in constraint for name in _DEDUP_TABLES)


def _message(exc: BaseException) -> str:
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        return exc.diag.message_primary
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
