"""Benchmark: how many events one core can verify, the ceiling of any ingest worker.

Prints a table and writes loadtests/results/verify_limits.json. Not a test: figures vary by
machine; compare ratios measured in the same run.

    .venv/bin/python loadtests/verify_limits.py [--events 20000]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.table import Table

from gateway.protocol import EventClaims, EventType, parse_compact, sign_compact

RESULTS = Path(__file__).parent / "results" / "verify_limits.json"


def _tokens(count: int, key: Ed25519PrivateKey) -> list[bytes]:
    now = datetime.now(UTC)
    return [
        sign_compact(
            EventClaims.build(
                event_id=uuid.uuid4(),
                device_id="D0001",
                carer_id="C0001",
                seq=i,
                type=EventType.CHECK_IN,
                device_time=now,
                service_user_id="SU0001",
            ).to_json(),
            key,
            kid="D0001",
        ).encode()
        for i in range(count)
    ]


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    console = Console()
    console.print(f"signing {args.events} events ...")
    tokens = _tokens(args.events, key)
    signed = [parse_compact(token) for token in tokens]

    started = time.perf_counter()
    for event in signed:
        public.verify(event.signature, event.signing_input)
    raw_verify_s = time.perf_counter() - started

    started = time.perf_counter()
    for token in tokens:
        event = parse_compact(token)
        event.verify(public)
        EventClaims.model_validate_json(event.payload)
    full_path_s = time.perf_counter() - started

    figures = {
        "events": args.events,
        "ed25519_verify_per_s": round(_rate(args.events, raw_verify_s)),
        "parse_verify_validate_per_s": round(_rate(args.events, full_path_s)),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    figures["full_path_share_of_verify_limit"] = round(
        figures["parse_verify_validate_per_s"] / figures["ed25519_verify_per_s"], 3
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")

    table = Table(title="Event verification on one core")
    table.add_column("measure")
    table.add_column("events/s", justify="right")
    table.add_row("Ed25519 verify only (the limit)", f"{figures['ed25519_verify_per_s']:,}")
    table.add_row("parse + verify + validate claims", f"{figures['parse_verify_validate_per_s']:,}")
    table.add_row("ratio to the limit", f"{figures['full_path_share_of_verify_limit']:.3f}")
    console.print(table)
    console.print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
