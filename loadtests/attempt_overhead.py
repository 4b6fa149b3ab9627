"""Benchmark: what recording attempts (poison isolation, ingest.attempt_store) costs a batch.

Not a test: on a private PostgreSQL (tests/faults/harness.py), batches of verified events are
stored the way a worker stores them, alternately without and with the attempt record (read
what earlier attempts hold, record the batch, forget it in the storing transaction), and the
medians are printed with their ratio; loadtests/results/attempt_overhead.json keeps them.

    .venv/bin/python -m loadtests.attempt_overhead [--batch 500 --rounds 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from ingest import attempt_store, store
from ingest.verify import ReceivedMessage, VerifiedEvent
from tests.faults.harness import Fleet, fault_stack, register_fleet

RESULTS = Path(__file__).resolve().parent / "results"


def verified_batch(fleet: Fleet, size: int) -> list[VerifiedEvent]:
    return [
        VerifiedEvent(
            ReceivedMessage(1, event.topic, event.payload, datetime.now(UTC)),
            event.claims,
            f"{fleet.run}P",
        )
        for event in fleet.sign(size)
    ]


def store_once(conn: psycopg.Connection, events: list[VerifiedEvent], attempts: bool) -> float:
    started = time.perf_counter()
    attempt = None
    if attempts:
        fingerprints = [attempt_store.fingerprint(event.message) for event in events]
        attempt_store.held(conn, fingerprints)
        attempt = attempt_store.record(conn, fingerprints)
    with conn.transaction():
        store.store_batch(conn, events, [])
        if attempt is not None:
            attempt_store.finish(conn, attempt)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=RESULTS / "attempt_overhead.json")
    args = parser.parse_args()
    plain: list[float] = []
    recorded: list[float] = []
    with fault_stack() as stack:
        fleet = register_fleet(stack, 100)
        with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
            # Another worker's batch in progress, as the attempt reader meets it.
            attempt_store.record(conn, [bytes(32)] * args.batch)
            for n in range(2 * args.rounds):
                events = verified_batch(fleet, args.batch)
                (recorded if n % 2 else plain).append(store_once(conn, events, bool(n % 2)))
    # The first rounds warm caches and partitions.
    without = statistics.median(plain[3:]) * 1000
    with_attempts = statistics.median(recorded[3:]) * 1000
    figures = {
        "batch": args.batch,
        "rounds": args.rounds,
        "store_batch_median_ms": round(without, 2),
        "with_attempt_record_median_ms": round(with_attempts, 2),
        "ratio": round(with_attempts / without, 3),
        "per_event_overhead_us": round((with_attempts - without) * 1000 / args.batch, 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    for name, value in figures.items():
        print(f"{name:32} {value}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
