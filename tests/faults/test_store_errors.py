"""Database errors during a burst: a passing fault is retried, only one row's own data quarantines.

A trigger on device_event raises a chosen SQLSTATE while a row of `fault_injection` is live (a
few seconds), the way a revoked privilege, a full disk or a read-only failover would refuse
inserts. Each scenario prints Jepsen-style counts and requires lost 0, duplicated 0, no valid
event quarantined, and ingest alive at the end. Issue 12 found 526 valid events quarantined
for good as `store_error` after 10 s of 42501; ECM_FAULT_STORE_ERROR_S sets the fault's length
(2 s by default, to keep the suite bounded).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.faults.harness import (
    Counts,
    Devices,
    FaultStack,
    Fleet,
    IngestRole,
    fault_stack,
    publish_paced,
    register_fleet,
    settle_and_count,
)

FAULT_S = float(os.environ.get("ECM_FAULT_STORE_ERROR_S", "2"))

FAULT_TRIGGER = """
create table fault_injection (
    sqlstate text not null,
    until timestamptz not null,
    device_id text,
    seq bigint,
    constraint_name text
);
create function fault_inject() returns trigger language plpgsql as $$
declare
    f record;
begin
    select * into f from fault_injection
    where until > clock_timestamp()
      and (device_id is null or device_id = new.device_id)
      and (seq is null or seq = new.seq)
    limit 1;
    if found then
        raise exception 'injected fault %', f.sqlstate
            using errcode = f.sqlstate, constraint = coalesce(f.constraint_name, ''),
                  table = tg_table_name;
    end if;
    return new;
end $$;
create trigger fault_inject before insert on device_event
    for each row execute function fault_inject();
"""

# Each refusal the database may give for a reason that passes (issue 12, item 3).
TRANSIENT = {
    "08006": "connection failure",
    "57P01": "admin shutdown",
    "25006": "read-only transaction",
    "53100": "disk full",
    "53200": "out of memory",
    "42501": "insufficient privilege",
    "40001": "serialization failure",
    "40P01": "deadlock detected",
    "55P03": "lock not available",
    "57014": "query cancelled",
    "XX000": "internal error (any other code)",
}


@pytest.fixture(scope="module")
def stack() -> Iterator[FaultStack]:
    with fault_stack() as stack:
        with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
            conn.execute(FAULT_TRIGGER)
        yield stack


@pytest.fixture(scope="module")
def ingest(stack: FaultStack) -> Iterator[IngestRole]:
    with IngestRole(stack, workers=2) as role:
        yield role


def inject(
    stack: FaultStack,
    sqlstate: str,
    seconds: float,
    *,
    device_id: str | None = None,
    seq: int | None = None,
    constraint: str | None = None,
) -> None:
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        conn.execute(
            "insert into fault_injection (sqlstate, until, device_id, seq, constraint_name) "
            "values (%s, clock_timestamp() + make_interval(secs => %s), %s, %s, %s)",
            (sqlstate, seconds, device_id, seq, constraint),
        )


def retries_with(ingest: IngestRole, sqlstate: str) -> int:
    return sum(1 for line in ingest.log_lines() if line.get("sqlstate") == sqlstate)


@contextmanager
def burst(devices: Devices, fleet: Fleet, total: int, seconds: float) -> Iterator[None]:
    publisher = threading.Thread(target=publish_paced, args=(devices, fleet, total, seconds))
    publisher.start()
    try:
        yield
    finally:
        publisher.join()


def assert_nothing_lost(counts: Counts) -> None:
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert counts.unexpected == 0  # no valid event quarantined
    assert counts.stored == counts.sent


@pytest.mark.parametrize("sqlstate", list(TRANSIENT), ids=lambda s: f"{s}-{TRANSIENT[s]}")
def test_a_transient_error_during_a_burst_is_retried_never_quarantined(
    stack: FaultStack, ingest: IngestRole, tmp_path: Path, sqlstate: str
) -> None:
    fleet = register_fleet(stack, 10)
    before = retries_with(ingest, sqlstate)
    with Devices(stack, tmp_path / "outbox.sqlite") as devices:
        with burst(devices, fleet, 400, FAULT_S + 1.0):
            time.sleep(0.5)
            inject(stack, sqlstate, FAULT_S)
        devices.deliver_everything(timeout_s=60)
        counts = settle_and_count(
            stack, fleet, devices, f"SQLSTATE {sqlstate} ({TRANSIENT[sqlstate]}) for {FAULT_S} s"
        )
    assert retries_with(ingest, sqlstate) > before, "the fault never met a batch"
    assert_nothing_lost(counts)
    assert ingest.alive


def test_a_race_on_a_dedup_key_is_retried_never_quarantined(
    stack: FaultStack, ingest: IngestRole, tmp_path: Path
) -> None:
    """A unique violation on device_sequence's key is two workers admitting one seq at once:
    storing again lets the sequence rules see the winner. Raised here for a few seconds."""
    fleet = register_fleet(stack, 10)
    with Devices(stack, tmp_path / "outbox.sqlite") as devices:
        with burst(devices, fleet, 400, FAULT_S + 1.0):
            time.sleep(0.5)
            inject(stack, "23505", FAULT_S, constraint="device_sequence_pkey")
        devices.deliver_everything(timeout_s=60)
        counts = settle_and_count(stack, fleet, devices, "unique violation on a dedup key")
    assert retries_with(ingest, "23505") > 0, "the fault never met a batch"
    assert_nothing_lost(counts)
    assert ingest.alive


@pytest.mark.parametrize(
    ("sqlstate", "constraint"),
    [("22003", None), ("22P02", None), ("23514", "device_event_evidence_level_check")],
    ids=["22003-out-of-range", "22P02-invalid-text", "23514-check-violation"],
)
def test_a_row_refused_for_its_own_data_is_quarantined_alone_and_the_rest_stored(
    stack: FaultStack,
    ingest: IngestRole,
    tmp_path: Path,
    sqlstate: str,
    constraint: str | None,
) -> None:
    fleet = register_fleet(stack, 10)
    events = fleet.sign(400)
    bad = events[137]
    # Refused whenever it is stored, for the whole test: the row's data, not a passing fault.
    inject(
        stack,
        sqlstate,
        120,
        device_id=bad.claims.device_id,
        seq=bad.claims.seq,
        constraint=constraint,
    )
    with Devices(stack, tmp_path / "outbox.sqlite") as devices:
        devices.publish(events)
        devices.deliver_everything(timeout_s=60)
        counts = settle_and_count(
            stack,
            fleet,
            devices,
            f"one row refused with {sqlstate}",
            planted=[bad.payload],
        )
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        entries = conn.execute(
            "select reason, detail, event_id from quarantined_message where device_id like %s",
            (f"{fleet.run}%",),
        ).fetchall()
    assert len(entries) == 1
    reason, detail, event_id = entries[0]
    assert (reason, event_id) == ("store_error", bad.event_id)
    assert detail.startswith(f"SQLSTATE {sqlstate}: injected fault")
    assert_nothing_lost(counts)  # every event but the refused one (planted) is stored
    assert ingest.alive
