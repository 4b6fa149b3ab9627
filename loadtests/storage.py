"""Bytes a stored event costs in PostgreSQL, before and after compression, for the capacity plan.

    .venv/bin/python -m loadtests.storage [--events 20000]

Realistic signed events (loadtests/ingest_bench.py's signer) go through the real ingest role
into a private single-box stack; then, for the rows of this run:

- on disk: the event table's partitions and indexes plus `device_sequence` (one row per event,
  the replay check), divided by the rows;
- compressed: the same rows as `COPY ... TO STDOUT` text compressed with zlib (level 6) and LZMA.
  TimescaleDB's own columnar compression cannot be installed here; a general-purpose compressor
  over the row text is a conservative stand-in (columnar compression usually does better on
  repeated ids and times).

Writes loadtests/results/storage.json.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from core.migrate import upgrade
from core.settings import Settings
from ecm.services import running
from loadtests.ingest_bench import (
    console,
    count_stored,
    flood,
    ingest_role,
    register_handsets,
    sign_events,
    wait_for_rows,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "loadtests" / "results"


def measure_storage(conn: psycopg.Connection, like: str) -> dict[str, Any]:
    """Per-event bytes of the rows whose device id matches `like` (a LIKE pattern)."""
    row = conn.execute(
        "select count(*) from device_event where device_id like %s", (like,)
    ).fetchone()
    rows = int(row[0]) if row else 0
    total = conn.execute("select count(*) from device_event").fetchone()
    all_rows = int(total[0]) if total else 0
    sizes = conn.execute(
        "select coalesce(sum(pg_total_relation_size(relid)), 0) "
        "from pg_partition_tree('device_event')"
    ).fetchone()
    sequence = conn.execute("select pg_total_relation_size('device_sequence')").fetchone()
    on_disk = int(sizes[0] if sizes else 0) + int(sequence[0] if sequence else 0)
    dump = bytearray()
    with conn.cursor().copy(
        "copy (select * from device_event where device_id like %s) to stdout", (like,)
    ) as copy:
        for chunk in copy:
            dump += chunk
    return {
        "rows_measured": rows,
        "bytes_per_event_on_disk": round(on_disk / max(all_rows, 1)),
        "bytes_per_event_row_text": round(len(dump) / max(rows, 1)),
        "bytes_per_event_zlib": round(len(zlib.compress(bytes(dump), 6)) / max(rows, 1)),
        "bytes_per_event_lzma": round(len(lzma.compress(bytes(dump))) / max(rows, 1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--devices", type=int, default=500)
    args = parser.parse_args()
    state_dir = ROOT / ".state" / f"storage-{os.getpid()}"
    shutil.rmtree(state_dir, ignore_errors=True)
    try:
        with running(state_dir) as endpoints:
            settings = Settings(
                env="test",
                state_dir=state_dir,
                database_url=endpoints.database_url,
                mqtt_host=endpoints.mqtt_host,
                mqtt_port=endpoints.mqtt_port,
            )
            upgrade(settings)
            run = f"T{uuid.uuid4().hex[:6]}"
            handsets = register_handsets(settings, args.devices, run)
            events = sign_events(handsets, args.events, "events")
            with (
                ingest_role(settings, state_dir, 2),
                psycopg.connect(settings.database_url, autocommit=True) as conn,
            ):
                flood(settings, events, 4)
                wait_for_rows(conn, run, args.events, "storing", 300)
                assert count_stored(conn, run) == args.events
                conn.execute("vacuum analyze device_event")
                figures = measure_storage(conn, f"{run}%")
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    figures["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    figures["events"] = args.events
    console.print(figures)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "storage.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
