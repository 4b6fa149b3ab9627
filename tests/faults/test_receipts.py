"""Receipts (protocol v1.1): what a PUBACK could lose, the receipt does not.

Counted from the handsets' side (tests/faults/harness.py): an event leaves a handset's outbox
only when ingest's receipt names it, so `lost` counts events the handsets let go of that the
store does not hold. Each scenario requires lost 0, duplicated 0, none of the valid events
quarantined, every event receipted and ingest alive at the end. With v1 handsets (deleting on
PUBACK) the first two scenarios lost up to half the backlog (issue 12).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.faults.harness import (
    Counts,
    Devices,
    FaultStack,
    IngestRole,
    fault_stack,
    register_fleet,
    settle_and_count,
)

BACKLOG = 1000
# Seconds between the last PUBACK and the broker's kill -9 (Mosquitto autosaves every second).
GAPS = (0.0, 0.3, 1.5, 3.0)
QUEUE_CAP = 200


@pytest.fixture(scope="module")
def stack() -> Iterator[FaultStack]:
    with fault_stack() as stack:
        yield stack


def assert_all_receipted_none_lost(counts: Counts, ingest: IngestRole) -> None:
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert counts.quarantined == 0, "valid events quarantined"
    assert counts.unexpected == 0
    assert counts.receipted == counts.sent
    assert counts.stored == counts.sent
    assert ingest.alive


def offline_ingest_session(stack: FaultStack) -> None:
    """Ingest's persistent session exists on the broker, and ingest is stopped: the broker
    queues the devices' events for it."""
    with IngestRole(stack, workers=1):
        pass


@pytest.mark.parametrize("gap_s", GAPS, ids=lambda g: f"gap-{g}s")
def test_broker_kill_9_with_a_backlog_for_offline_ingest(
    stack: FaultStack, tmp_path: Path, gap_s: float
) -> None:
    fleet = register_fleet(stack, 20)
    offline_ingest_session(stack)
    # A receipt timeout long enough that ingest drains what the broker kept before any
    # resend: the store then shows what the crash lost.
    with Devices(stack, tmp_path / "outbox.sqlite", receipt_timeout_s=15) as devices:
        devices.publish(fleet.sign(BACKLOG))
        assert devices.uplink.flush(timeout=60), "the broker did not PUBACK the backlog"
        assert len(devices.outbox) == BACKLOG, "a PUBACK must not empty the outbox"
        time.sleep(gap_s)
        stack.kill_broker()
        stack.start_broker()
        restarted = time.monotonic()
        with IngestRole(stack, workers=1) as ingest:
            kept = stored_once_settled(stack, list(devices.sent))
            assert devices.uplink.resent == 0, "measured before any resend"
            devices.deliver_everything(timeout_s=90)
            took = time.monotonic() - restarted
            counts = settle_and_count(stack, fleet, devices, f"broker kill -9, gap {gap_s} s")
            print(
                f"gap {gap_s} s: the broker lost {BACKLOG - kept} of {BACKLOG} PUBACKed; "
                f"resent {devices.uplink.resent}; all receipted {took:.1f} s after the restart"
            )
            assert_all_receipted_none_lost(counts, ingest)


def stored_once_settled(stack: FaultStack, ids: list[uuid.UUID]) -> int:
    """How many of `ids` are stored once ingest has drained the broker's queue."""
    last, stable_since = -1, time.monotonic()
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        while time.monotonic() - stable_since < 1.0:
            (count,) = conn.execute(
                "select count(*) from device_event where event_id = any(%s)", (ids,)
            ).fetchone() or (0,)
            if count != last:
                last, stable_since = count, time.monotonic()
            time.sleep(0.2)
    return int(last)


def test_broker_queue_overflow_while_ingest_is_stopped(tmp_path: Path) -> None:
    with fault_stack(max_queued_messages=QUEUE_CAP) as stack:
        fleet = register_fleet(stack, 20)
        offline_ingest_session(stack)
        with Devices(stack, tmp_path / "outbox.sqlite", receipt_timeout_s=15) as devices:
            devices.publish(fleet.sign(4 * QUEUE_CAP))
            # Mosquitto PUBACKs all of them and drops what is past the session's cap.
            assert devices.uplink.flush(timeout=60)
            with IngestRole(stack, workers=1) as ingest:
                kept = stored_once_settled(stack, list(devices.sent))
                assert devices.uplink.resent == 0, "measured before any resend"
                devices.deliver_everything(timeout_s=90)
                counts = settle_and_count(
                    stack, fleet, devices, f"queue cap {QUEUE_CAP}, {4 * QUEUE_CAP} sent"
                )
                print(f"queue cap {QUEUE_CAP}: the broker dropped {4 * QUEUE_CAP - kept} PUBACKed")
                assert_all_receipted_none_lost(counts, ingest)
            assert kept <= QUEUE_CAP + 10, "the cap was in force (else this tests nothing)"
            assert devices.uplink.resent >= 4 * QUEUE_CAP - kept


def test_handset_restarted_before_its_receipts_arrived(stack: FaultStack, tmp_path: Path) -> None:
    fleet = register_fleet(stack, 20)
    outbox = tmp_path / "outbox.sqlite"
    offline_ingest_session(stack)
    client_id = f"ecm-sim-restart-{fleet.run}"
    first = Devices(stack, outbox, client_id=client_id)
    with first:
        first.publish(fleet.sign(BACKLOG))
        assert first.uplink.flush(timeout=60)
    # The handset is off; ingest stores the backlog and sends receipts to its session.
    with IngestRole(stack, workers=1) as ingest:
        time.sleep(2.0)
        second = Devices(stack, outbox, client_id=client_id)
        second.sent = first.sent
        with second:
            assert len(second.outbox) == BACKLOG, "the outbox outlived the restart"
            # What a restarted handset does: send its outbox again (same bytes); the session's
            # queued receipts and the duplicates' receipts empty it.
            second.uplink.resend_outbox()
            second.deliver_everything(timeout_s=90)
            counts = settle_and_count(stack, fleet, second, "handset restarted before receipts")
            assert_all_receipted_none_lost(counts, ingest)
            assert set(second.uplink.feedback.values()) == {"visit counted"}
