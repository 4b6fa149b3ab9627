"""Poison messages among valid ones, with 1 and 2 ingest workers: no message can stop ingest.

Two kinds, each scenario printing Jepsen-style counts (the planted messages are not counted as
sent; `unexpected` counts valid events quarantined):

- Messages that once killed the worker or might: a JWS header of JSON nested 4,000 deep (issue
  12: RecursionError, the worker died on every redelivery), truncated and oversized tokens,
  random bytes. Each is quarantined with a reason and no worker dies.
- A message that kills the worker that takes it, every time: a trigger makes storing this one
  valid event hang, and the test kills -9 the workers whenever it does (as a watchdog would a
  stuck worker; a native crash or the OOM killer look the same to ingest). The good messages of
  its batch are stored after the first death (the suspects are then processed one by one), and
  after three deaths the message is quarantined as `poison` on its next delivery.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gateway.protocol import b64url_encode
from gateway.protocol.jws import MAX_TOKEN_BYTES
from ingest.worker import POISON_AFTER
from tests.faults.harness import (
    Counts,
    Devices,
    FaultStack,
    IngestRole,
    fault_stack,
    register_fleet,
    settle_and_count,
)

HANG_TRIGGER = """
create table fault_hang (event_id uuid primary key);
create function fault_hang() returns trigger language plpgsql as $$
begin
    if exists (select 1 from fault_hang where event_id = new.event_id) then
        perform pg_sleep(60);
    end if;
    return new;
end $$;
create trigger fault_hang before insert on device_event
    for each row execute function fault_hang();
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[FaultStack]:
    with fault_stack() as stack:
        with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
            conn.execute(HANG_TRIGGER)
        yield stack


def nested_header_token(depth: int) -> bytes:
    return (b64url_encode(b"[" * depth + b"]" * depth) + ".e30.AA").encode()


def assert_nothing_lost(counts: Counts) -> None:
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert counts.unexpected == 0  # no valid event quarantined
    assert counts.stored == counts.sent


def quarantined(stack: FaultStack, payloads: list[bytes]) -> dict[bytes, str]:
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        rows = conn.execute(
            "select payload, reason from quarantined_message where payload = any(%s)",
            (payloads,),
        ).fetchall()
    return {bytes(payload): reason for payload, reason in rows}


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_messages_among_valid_ones_are_quarantined_and_no_worker_dies(
    stack: FaultStack, tmp_path: Path, workers: int
) -> None:
    fleet = register_fleet(stack, 10)
    valid = fleet.sign(600)
    token = valid[0].payload
    planted = {
        nested_header_token(4000): {"bad_header"},
        (b64url_encode(b'{"alg":"EdDSA","kid":' + b"[" * 3000) + ".e30.AA").encode(): {
            "bad_header"
        },
        token[: len(token) // 2]: {"not_jws"},
        # Over the protocol's 16 KiB, under the broker's packet limit (a larger packet never
        # reaches ingest: the broker disconnects its sender, tests/gateway/test_broker_limits.py).
        token + b"A" * (MAX_TOKEN_BYTES + 256 - len(token)): {"not_jws"},
        os.urandom(512): {"not_jws"},
    }
    with (
        IngestRole(stack, workers) as ingest,
        Devices(stack, tmp_path / "outbox.sqlite") as devices,
    ):
        pids = ingest.workers() if workers > 1 else [ingest.process.pid]
        for k in range(6):
            devices.publish(valid[k * 100 : (k + 1) * 100])
            for n, payload in enumerate(planted):
                devices.uplink.publish(fleet_topic(fleet.ids, n + k), payload)
        devices.deliver_everything(timeout_s=60)
        counts = settle_and_count(
            stack,
            fleet,
            devices,
            f"bad messages among valid, {workers} worker(s)",
            planted=list(planted),
        )
        assert ingest.alive
        assert (ingest.workers() if workers > 1 else [ingest.process.pid]) == pids, "a worker died"
    assert_nothing_lost(counts)
    reasons = quarantined(stack, list(planted))
    assert set(reasons) == set(planted)
    for payload, expected in planted.items():
        # `malformed` would do too (an exception no check names), never a dead worker.
        assert reasons[payload] in {*expected, "malformed"}, (payload[:40], reasons[payload])


def fleet_topic(ids: list[str], n: int) -> str:
    return f"ecm/v1/devices/{ids[n % len(ids)]}/events"


@pytest.mark.parametrize("workers", [1, 2])
def test_a_message_that_kills_its_worker_is_quarantined_as_poison(
    stack: FaultStack, tmp_path: Path, workers: int
) -> None:
    fleet = register_fleet(stack, 10)
    events = fleet.sign(400)
    killer = events[200]
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        conn.execute("insert into fault_hang (event_id) values (%s)", (killer.event_id,))
    kills = 0
    with (
        IngestRole(stack, workers) as ingest,
        Devices(stack, tmp_path / "outbox.sqlite") as devices,
        psycopg.connect(stack.settings.database_url, autocommit=True) as conn,
    ):
        logged_before = len(ingest.log_lines())
        devices.publish(events)
        # The broker has them (PUBACK); their receipts wait until the killer is dealt with.
        devices.uplink.flush(timeout=30)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if quarantined(stack, [killer.payload]):
                break
            hung = conn.execute(
                "select pid from pg_stat_activity "
                "where wait_event = 'PgSleep' and application_name = 'ecm.ingest'"
            ).fetchall()
            if hung:
                ingest.kill_every_worker()
                kills += 1
                for (pid,) in hung:
                    conn.execute("select pg_terminate_backend(%s)", (pid,))
            time.sleep(0.1)
        # Ingest goes on after the poison: later events are stored.
        devices.publish(fleet.sign(50))
        # Everything is receipted but the poison, which has no receipt to give (no trusted
        # event id): the handset keeps it and resends it, quarantined as poison each time.
        until = time.monotonic() + 120
        while time.monotonic() < until:
            devices.uplink.wait_receipted(timeout=1)
            if {e.event_id for e in devices.outbox.pending()} <= {killer.event_id}:
                break
        counts = settle_and_count(
            stack,
            fleet,
            devices,
            f"a worker-killing message, {workers} worker(s)",
            planted=[killer.payload],
        )
        assert ingest.alive
        isolated = [
            line
            for line in ingest.log_lines()[logged_before:]
            if "processing them one by one" in str(line["msg"])
        ]
    assert quarantined(stack, [killer.payload]) == {killer.payload: "poison"}
    assert kills == POISON_AFTER
    assert isolated, "after a death, the suspects are processed one by one"
    assert_nothing_lost(counts)
