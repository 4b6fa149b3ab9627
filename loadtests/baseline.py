"""The same-run baseline of `make loadtest`: what the machine and the API's event loop were doing
while the users ran, so the p99 of a noisy machine can be read for what it is.

    .venv/bin/python -m loadtests.baseline --url URL --metrics-token T --duration 55 --out F

Run by loadtests/run.py beside locust, in a process of its own, for the measured part of the run
(after all users have spawned). It records:

- `/health` (one cheap database round trip, no sign-in, no audit) timed every 0.2 s: the
  latency any request pays under this load before doing anything of its own;
- the API's event-loop lag (`ecm_api_event_loop_lag_observed_seconds`, api/loop_lag.py), read
  from `/metrics` before and after, so only the oversleeps of the measured part count;
- the machine: its load average each second, and the share of CPU time that was busy and that
  the hypervisor gave to other guests (steal), and idle waiting for the disk (iowait), from
  /proc/stat;
- the database sessions opened meanwhile (`pg_stat_database.sessions`, every role): a pool too
  small for the load opens and closes a connection for many requests, each a new backend.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

LOOP_LAG = "ecm_api_event_loop_lag_observed_seconds"
PROBE_EVERY_S = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the API, e.g. http://127.0.0.1:8100")
    parser.add_argument("--metrics-token", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait first")
    parser.add_argument("--duration", type=float, required=True, help="seconds to measure")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    time.sleep(args.delay)
    sessions_before = database_sessions(args.database_url)
    result = measure(args.url, args.metrics_token, args.duration)
    result["database_sessions_opened"] = database_sessions(args.database_url) - sessions_before
    args.out.write_text(json.dumps(result, indent=2) + "\n")


def measure(url: str, metrics_token: str, duration_s: float) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=30) as client:
        lag_before = loop_lag_buckets(client, metrics_token)
        cpu_before = cpu_times()
        health_ms: list[float] = []
        health_failures = 0
        load_averages: list[float] = []
        started = time.monotonic()
        next_load = started
        while (now := time.monotonic()) - started < duration_s:
            if now >= next_load:
                load_averages.append(load_average())
                next_load += 1.0
            sent = time.perf_counter()
            try:
                ok = client.get("/health").status_code == 200
            except httpx.HTTPError:
                ok = False
            health_ms.append((time.perf_counter() - sent) * 1000)
            health_failures += 0 if ok else 1
            time.sleep(max(0.0, PROBE_EVERY_S - (time.perf_counter() - sent)))
        cpu_after = cpu_times()
        lag_after = loop_lag_buckets(client, metrics_token)
    return {
        "seconds": round(duration_s, 1),
        "health": {**latency_summary(health_ms), "failures": health_failures},
        "loop_lag": lag_summary(lag_before, lag_after),
        "machine": {
            "load_average_1min_mean": round(statistics.fmean(load_averages), 2)
            if load_averages
            else None,
            "load_average_1min_max": max(load_averages) if load_averages else None,
            **cpu_shares(cpu_before, cpu_after),
        },
    }


def run_seconds(run_time: str) -> float:
    """Locust's --run-time (`60s`, `2m`, `1h30m`, `90`) in seconds."""
    if run_time.isdigit():
        return float(run_time)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", run_time)
    if not parts or not any(parts.groups()):
        raise SystemExit(f"--duration {run_time!r}: give e.g. 60s, 2m or 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in parts.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def database_sessions(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as db:
        row = db.execute("select sum(sessions) from pg_stat_database").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile, as locust reports its own."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def latency_summary(values_ms: list[float]) -> dict[str, Any]:
    if not values_ms:
        return {"requests": 0}
    return {
        "requests": len(values_ms),
        "median_ms": round(percentile(values_ms, 0.50), 1),
        "p95_ms": round(percentile(values_ms, 0.95), 1),
        "p99_ms": round(percentile(values_ms, 0.99), 1),
        "max_ms": round(max(values_ms), 1),
    }


def loop_lag_buckets(client: httpx.Client, token: str) -> dict[float, float]:
    """Cumulative counts of the loop-lag histogram by upper bound (seconds; inf last)."""
    response = client.get("/metrics/", headers={"authorization": f"Bearer {token}"})
    response.raise_for_status()
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(response.text):
        if family.name != LOOP_LAG:
            continue
        for sample in family.samples:
            if sample.name == f"{LOOP_LAG}_bucket":
                buckets[float(sample.labels["le"])] = sample.value
    return dict(sorted(buckets.items()))


def lag_summary(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """Oversleeps during the measured part: how many, the bucket bounds of the median and the
    99th, and how many exceeded 50, 100 and 250 ms."""
    counts = {le: after[le] - before.get(le, 0.0) for le in after}
    total = counts.get(math.inf, 0.0)
    if total <= 0:
        return {"samples": 0}

    def bound_ms(fraction: float) -> float | None:
        for le, cumulative in counts.items():
            if cumulative >= fraction * total:
                return None if math.isinf(le) else le * 1000
        return None

    def over(le: float) -> int:
        return int(total - counts.get(le, 0.0))

    return {
        "samples": int(total),
        "median_at_most_ms": bound_ms(0.50),
        "p99_at_most_ms": bound_ms(0.99),
        "over_50_ms": over(0.05),
        "over_100_ms": over(0.1),
        "over_250_ms": over(0.25),
    }


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def cpu_times() -> list[int]:
    """The machine's CPU time so far (user nice system idle iowait irq softirq steal), jiffies."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    return [int(f) for f in fields]


def cpu_shares(before: list[int], after: list[int]) -> dict[str, float | None]:
    spent = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(spent)
    if total <= 0:
        return {"cpu_busy_percent": None, "cpu_iowait_percent": None, "cpu_steal_percent": None}
    idle = spent[3] + spent[4]
    return {
        "cpu_busy_percent": round(100 * (total - idle) / total, 1),
        # Idle while some process waited for the disk (counted in the load average too).
        "cpu_iowait_percent": round(100 * spent[4] / total, 1),
        "cpu_steal_percent": round(100 * spent[7] / total, 1),
    }


if __name__ == "__main__":
    main()
