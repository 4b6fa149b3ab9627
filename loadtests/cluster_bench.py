"""The clustered stack under load: throughput per worker count and a national morning peak.

    make bench-cluster            # or: .venv/bin/python -m loadtests.cluster_bench [--small]

In one run, on this machine:

1. **Throughput.** A burst of pre-signed events published over MQTT 3.1.1 (TLS, QoS 1) spread
   over the three NATS nodes, ingested by `ecm ingest --workers N` with the JetStream transport
   for N = 1, 2, 3; and the same burst on the single box (one Mosquitto, the MQTT shared
   subscription, 2 workers) for comparison. Events/s from first publish to last commit, and CPU
   seconds per 1,000 events for ingest and for the servers (NATS nodes, or Mosquitto; and
   PostgreSQL, with the standby on the cluster).
2. **National morning peak.** The peak hour of a simulated England day (loadtests/england.py:
   about 1M visits, two events per carer per visit) replayed at 10x speed on the cluster with 2
   workers, each event published at its scheduled moment: lost, duplicated, and
   publish-to-commit p50/p95/p99.

Prints tables, writes loadtests/results/cluster.json and cluster.png. The machine has 2 cores
shared by everything here (three NATS nodes, two PostgreSQL servers, ingest and the load
generator) and by other engineers: compare figures within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from rich.table import Table

from core.migrate import upgrade
from core.process import child_preexec
from core.settings import Settings
from ecm.services import running
from ecm.services.cluster import ClusterProcesses, running_cluster
from gateway.pki.identity import service_identity
from gateway.protocol import EventClaims, EventType, events_topic, sign_compact
from ingest.jetstream import wait_for_jetstream_ingest
from ingest.readiness import wait_for_ingest
from loadtests.england import simulate_day
from loadtests.ingest_bench import (
    Event,
    Handsets,
    _process_tree,
    audit,
    console,
    count_stored,
    cpu_seconds,
    percentile,
    progress_bar,
    publish_to_commit_ms,
    register_handsets,
    server_pids,
    sign_events,
    wait_for_rows,
)
from loadtests.mqtt_flood import FloodStats, publish_over_one_connection

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "loadtests" / "results"
SPEED_UP = 10


@dataclass(frozen=True)
class Target:
    """Where to publish and how to run ingest against one stack."""

    settings: Settings
    state_dir: Path
    mqtt_ports: Sequence[int]
    env: dict[str, str]
    cluster: bool


def role_env(settings: Settings, state_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
    env.update(
        ECM_ENV="test",
        ECM_STATE_DIR=str(state_dir),
        ECM_DATABASE_URL=settings.database_url,
        ECM_MQTT_HOST=settings.mqtt_host,
        ECM_MQTT_PORT=str(settings.mqtt_port),
        ECM_INGEST_METRICS_PORT="0",
        ECM_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


@contextmanager
def ingest(target: Target, workers: int) -> Iterator[list[int]]:
    log = (target.state_dir / f"ingest-{workers}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ecm", "ingest", "--workers", str(workers)],
        env=target.env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
        # Ended with the benchmark even when that is killed outright.
        preexec_fn=child_preexec(signal.SIGTERM),
    )
    try:
        ready = (
            wait_for_jetstream_ingest(target.settings, timeout_s=60)
            if target.cluster
            else wait_for_ingest(target.settings, timeout_s=60)
        )
        if not ready:
            raise RuntimeError("ingest did not come online")
        time.sleep(1.5)  # every worker taking events, not only the first
        yield _process_tree(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def publish(
    target: Target,
    events: list[Event],
    connections: int,
    due: Sequence[float] | None = None,
) -> FloodStats:
    """Publish over `connections` connections spread over the target's MQTT ports; with `due`
    (seconds after the start, per event), each event at its moment."""
    stats = FloodStats()
    shares: list[list[tuple[int, str, bytes]]] = [[] for _ in range(connections)]
    for index, event in enumerate(events):
        shares[index % connections].append((index, event.topic, event.payload))
    tls = service_identity(target.settings, "operator").ssl_context()

    async def _run() -> None:
        started = time.perf_counter()

        def pacer(share: list[tuple[int, str, bytes]]) -> Callable[[], float] | None:
            if due is None:
                return None
            position = 0

            def _pace() -> float:
                nonlocal position
                index = share[position][0]
                position += 1
                return started + due[index] - time.perf_counter()

            return _pace

        run = uuid.uuid4().hex[:6]
        await asyncio.gather(
            *(
                publish_over_one_connection(
                    "127.0.0.1",
                    target.mqtt_ports[k % len(target.mqtt_ports)],
                    f"ecm-bench-{run}-{k}",
                    share,
                    stats,
                    pace=pacer(share),
                    tls=tls,
                )
                for k, share in enumerate(shares)
            )
        )

    asyncio.run(_run())
    return stats


def burst(
    target: Target, handsets: Handsets, run: str, workers: int, count: int, timeout_s: float
) -> dict[str, Any]:
    events = sign_events(handsets, count, f"{count:,} events for {workers} worker(s)")
    servers = server_pids(target.state_dir)
    with (
        ingest(target, workers) as ingest_pids,
        psycopg.connect(target.settings.database_url, autocommit=True) as conn,
    ):
        baseline = count_stored(conn, run)
        cpu_ingest, cpu_servers = cpu_seconds(ingest_pids), cpu_seconds(servers)
        started = time.monotonic()
        publisher = threading.Thread(target=publish, args=(target, events, 6))
        publisher.start()
        done = wait_for_rows(
            conn, run, baseline + count, f"{workers} worker(s) storing", timeout_s, None, started
        )
        publisher.join()
        stored = count_stored(conn, run) - baseline
        lost, duplicated, _ = audit(conn, events)
        ingest_cpu = cpu_seconds(ingest_pids) - cpu_ingest
        server_cpu = cpu_seconds(server_pids(target.state_dir)) - cpu_servers
    elapsed = done - started
    return {
        "workers": workers,
        "events": count,
        "stored": stored,
        "events_per_s": round(stored / elapsed),
        "ingest_cpu_s_per_1k": round(ingest_cpu / stored * 1000, 3),
        "servers_cpu_s_per_1k": round(server_cpu / stored * 1000, 3),
        "lost": lost,
        "duplicated": duplicated,
    }


def peak_hour_events(
    handsets: Handsets, per_minute: list[float], scale: float
) -> tuple[list[Event], list[float]]:
    """The peak hour's events, each due at its moment compressed SPEED_UP times."""
    counts = [round(n * scale) for n in per_minute]
    total = sum(counts)
    events: list[Event] = []
    due: list[float] = []
    now = datetime.now(UTC)
    seconds_per_minute = 60 / SPEED_UP
    n = 0
    with progress_bar("signing the peak hour") as bar:
        task = bar.add_task("signing", total=total)
        for minute, count in enumerate(counts):
            for k in range(count):
                at = (minute + (k + 0.5) / count) * seconds_per_minute
                i = n % len(handsets.ids)
                seq = handsets.next_seq[i]
                handsets.next_seq[i] += 1
                claims = EventClaims.build(
                    event_id=uuid.uuid4(),
                    device_id=handsets.ids[i],
                    carer_id=handsets.carers[i],
                    seq=seq,
                    type=EventType.CHECK_IN if seq % 2 == 0 else EventType.CHECK_OUT,
                    # The handset's clock in replay time: the hour compressed.
                    device_time=now + timedelta(seconds=at),
                    service_user_id=handsets.homes[i],
                )
                token = sign_compact(claims.to_json(), handsets.keys[i], kid=handsets.ids[i])
                events.append(Event(claims.event_id, events_topic(handsets.ids[i]), token.encode()))
                due.append(at)
                n += 1
                if n % 2000 == 0:
                    bar.update(task, completed=n)
        bar.update(task, completed=total)
    return events, due


def replay_peak(target: Target, handsets: Handsets, run: str, scale: float) -> dict[str, Any]:
    profile = simulate_day()
    events, due = peak_hour_events(handsets, profile.peak_hour, scale)
    start = profile.peak_hour_start
    stats_box: list[FloodStats] = []
    timeline: list[tuple[float, int]] = []
    with (
        ingest(target, 2) as ingest_pids,
        psycopg.connect(target.settings.database_url, autocommit=True) as conn,
    ):
        baseline = count_stored(conn, run)
        cpu_before = cpu_seconds(ingest_pids)
        started = time.monotonic()
        publisher = threading.Thread(
            target=lambda: stats_box.append(publish(target, events, 6, due))
        )
        publisher.start()
        wait_for_rows(
            conn,
            run,
            baseline + len(events),
            f"peak hour at {SPEED_UP}x",
            60 * 60 / SPEED_UP + 300,
            timeline,
            started,
        )
        publisher.join()
        lost, duplicated, _ = audit(conn, events)
        latencies = publish_to_commit_ms(conn, events, stats_box[0])
        ingest_cpu = cpu_seconds(ingest_pids) - cpu_before
    minute_counts = [round(n * scale) for n in profile.peak_hour]
    return {
        "visits_per_day": profile.visits,
        "events_per_day": round(profile.events),
        "peak_hour_starts": f"{start // 60:02d}:{start % 60:02d}",
        "peak_hour_events_england": round(sum(profile.peak_hour)),
        "peak_minute_events_per_s_england": round(profile.peak_events_per_s, 1),
        "scale": scale,
        "speed_up": SPEED_UP,
        "events": len(events),
        "offered_peak_per_s": round(max(minute_counts) * SPEED_UP / 60, 1),
        "offered_mean_per_s": round(len(events) / (60 * 60 / SPEED_UP), 1),
        "confirmed": stats_box[0].acked,
        "lost": lost,
        "duplicated": duplicated,
        "latency_p50_ms": round(percentile(latencies, 0.50), 1),
        "latency_p95_ms": round(percentile(latencies, 0.95), 1),
        "latency_p99_ms": round(percentile(latencies, 0.99), 1),
        "latency_max_ms": round(max(latencies), 1),
        "ingest_cpu_s_per_1k": round(ingest_cpu / len(events) * 1000, 3),
        "offered_per_minute": minute_counts,
        "timeline": [(round(t, 2), n - baseline) for t, n in timeline],
    }


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()}, {os.cpu_count()} cores shared with other engineers",
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "events_per_burst": args.events,
    }
    base = ROOT / ".state" / f"cluster-bench-{os.getpid()}"
    shutil.rmtree(base, ignore_errors=True)
    try:
        # 1a. The single box: one Mosquitto, one PostgreSQL, the shared subscription.
        single_dir = base / "single"
        with running(single_dir) as endpoints:
            settings = Settings(
                env="test",
                state_dir=single_dir,
                database_url=endpoints.database_url,
                mqtt_host=endpoints.mqtt_host,
                mqtt_port=endpoints.mqtt_port,
            )
            upgrade(settings)
            target = Target(
                settings,
                single_dir,
                [endpoints.mqtt_port],
                role_env(settings, single_dir, {}),
                False,
            )
            run = f"S{uuid.uuid4().hex[:6]}"
            handsets = register_handsets(settings, args.devices, run)
            figures["single_box"] = burst(target, handsets, run, 2, args.events, args.timeout)
        # 1b and 2. The cluster.
        cluster_dir = base / "cluster"
        with running_cluster(cluster_dir) as processes:
            target = cluster_target(processes)
            upgrade(target.settings)
            run = f"C{uuid.uuid4().hex[:6]}"
            handsets = register_handsets(target.settings, args.devices, run)
            figures["cluster"] = [
                burst(target, handsets, run, workers, args.events, args.timeout)
                for workers in (1, 2, 3)
            ]
            peak_run = f"N{uuid.uuid4().hex[:6]}"
            peak_handsets = register_handsets(target.settings, args.peak_devices, peak_run)
            figures["national_peak"] = replay_peak(target, peak_handsets, peak_run, args.scale)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return figures


def cluster_target(processes: ClusterProcesses) -> Target:
    endpoints = processes.endpoints
    settings = endpoints.settings(processes.state_dir, env="test")
    env = role_env(settings, processes.state_dir, endpoints.as_env())
    return Target(settings, processes.state_dir, endpoints.mqtt_ports, env, True)


def print_tables(figures: dict[str, Any]) -> None:
    table = Table(title=f"Throughput ({figures['machine']})")
    for column in ("stack", "workers", "events/s", "ingest CPU s/1k", "servers CPU s/1k", "lost"):
        table.add_column(column, justify="right")
    rows = [("single box", figures["single_box"])]
    rows += [("cluster", r) for r in figures["cluster"]]
    for name, r in rows:
        table.add_row(
            name,
            str(r["workers"]),
            f"{r['events_per_s']:,}",
            str(r["ingest_cpu_s_per_1k"]),
            str(r["servers_cpu_s_per_1k"]),
            f"{r['lost']} / {r['duplicated']} dup",
        )
    console.print(table)
    peak = figures["national_peak"]
    table = Table(title=f"National morning peak hour replayed at {peak['speed_up']}x")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in (
        "visits_per_day",
        "peak_hour_starts",
        "peak_hour_events_england",
        "peak_minute_events_per_s_england",
        "scale",
        "events",
        "offered_mean_per_s",
        "offered_peak_per_s",
        "confirmed",
        "lost",
        "duplicated",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_max_ms",
    ):
        value = peak[key]
        table.add_row(key.replace("_", " "), f"{value:,}" if not isinstance(value, str) else value)
    console.print(table)


def plot(figures: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    rows = [("single box\n2 workers", figures["single_box"])]
    rows += [(f"cluster\n{r['workers']} worker(s)", r) for r in figures["cluster"]]
    left.bar([n for n, _ in rows], [r["events_per_s"] for _, r in rows], color="#4472c4")
    for i, (_, r) in enumerate(rows):
        left.text(
            i,
            r["events_per_s"],
            f"{r['events_per_s']:,}\n{r['ingest_cpu_s_per_1k']} s/1k",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    left.set_ylabel("events/s (publish to commit)")
    left.set_title("Throughput, same run")
    peak = figures["national_peak"]
    per_minute = peak["offered_per_minute"]
    seconds = 60 / peak["speed_up"]
    offered_t = [m * seconds for m in range(len(per_minute) + 1)]
    offered = [0]
    for n in per_minute:
        offered.append(offered[-1] + n)
    right.plot(offered_t, offered, label="published (schedule)", linestyle="--")
    right.plot(
        [t for t, _ in peak["timeline"]], [n for _, n in peak["timeline"]], label="committed"
    )
    right.set_xlabel(f"seconds (peak hour from {peak['peak_hour_starts']} at {peak['speed_up']}x)")
    right.set_ylabel("events")
    right.set_title(
        f"National peak: {peak['events']:,} events, lost {peak['lost']}, "
        f"p99 {peak['latency_p99_ms']:,} ms"
    )
    right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="a quick run while developing")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--peak-devices", type=int, default=2000)
    parser.add_argument("--scale", type=float, default=1.0, help="share of England replayed")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS / "cluster.json")
    args = parser.parse_args()
    if args.small:
        args.events, args.devices, args.peak_devices, args.scale = 3000, 100, 200, 0.02
    figures = run_bench(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figures["plot"] = os.path.relpath(args.out.with_suffix(".png"), ROOT)
    plot(figures, args.out.with_suffix(".png"))
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print_tables(figures)
    console.print(f"written to {args.out} and {figures['plot']}")


if __name__ == "__main__":
    main()
