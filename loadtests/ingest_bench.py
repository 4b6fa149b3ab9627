"""Benchmark: simulated handsets -> Mosquitto -> `ecm ingest` -> PostgreSQL, on this machine.

Not a test: it prints a table and writes loadtests/results/ingest.json and ingest.png. It runs
its own private stack under .state/bench-<pid> and removes it afterwards. Phases:

1. same-run limits: Ed25519 verifications/s on one core; binary COPY rows/s into device_event;
2. throughput: pre-signed events published as fast as the broker takes them over a few
   connections; events_per_s counts events verified, committed and acknowledged by ingest.
   Receipts off (ECM_INGEST_RECEIPTS=false) and on alternate, --rounds times each in the same
   run, with one subscriber taking every receipt as the phones would; the ratio of the rounds'
   means, on/off, is printed;
3. latency (receipts on): a fixed 1,000 events/s; publish-to-commit per event from the
   publish wall time to the row's stored_at (the committing transaction's start, a few ms
   before its commit), and publish-to-receipt to the receipt's arrival at the subscriber;
4. reconnect storm (receipts on): N devices each holding M queued (hours-old) events connect
   at once; every event must be stored once and receipted.

    make bench                                            # the full run
    .venv/bin/python -m loadtests.ingest_bench --small    # a quick one while developing
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import ssl
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.migrate import upgrade
from core.settings import Settings
from ecm.services import running
from gateway.pki.identity import service_identity
from gateway.protocol import (
    EventClaims,
    EventType,
    events_topic,
    parse_compact,
    public_key_to_b64,
    sign_compact,
)
from gateway.registry import Carer, Device, Provider, RegistryDocument, ServiceUser, seed
from ingest import store
from ingest.readiness import wait_for_ingest
from ingest.verify import ReceivedMessage, VerifiedEvent
from loadtests.mqtt_flood import FloodStats, publish_over_one_connection
from loadtests.receipt_listener import ReceiptListener

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "loadtests" / "results"
console = Console()


@dataclass
class Handsets:
    ids: list[str]
    keys: list[Ed25519PrivateKey]
    carers: list[str]
    homes: list[str]
    next_seq: list[int]


@dataclass(frozen=True)
class Event:
    event_id: uuid.UUID
    topic: str
    payload: bytes


# --- setup -----------------------------------------------------------------------------------


def register_handsets(settings: Settings, count: int, run: str) -> Handsets:
    from core.db import make_engine

    handsets = Handsets([], [], [], [], [])
    document = RegistryDocument(providers=[Provider(id=f"{run}P", name="Bench Care Ltd")])
    for i in range(count):
        key = Ed25519PrivateKey.generate()
        device, carer, home = f"{run}D{i:05d}", f"{run}C{i:05d}", f"{run}SU{i:05d}"
        document.carers.append(Carer(id=carer, provider_id=f"{run}P", name=f"Carer {i}"))
        document.devices.append(
            Device(id=device, provider_id=f"{run}P", public_key=public_key_to_b64(key.public_key()))
        )
        document.service_users.append(
            ServiceUser(id=home, name=f"Home {i}", home_lat=52.6, home_lon=1.3)
        )
        handsets.ids.append(device)
        handsets.keys.append(key)
        handsets.carers.append(carer)
        handsets.homes.append(home)
        handsets.next_seq.append(0)
    engine = make_engine(settings, "bench")
    with engine.begin() as conn:
        seed(conn, document)
    engine.dispose()
    return handsets


def sign_events(
    handsets: Handsets,
    count: int,
    label: str,
    *,
    age: timedelta = timedelta(0),
    per_device: int = 0,
) -> list[Event]:
    """`count` signed events, round-robin over handsets (or `per_device` each, in order)."""
    events: list[Event] = []
    now = datetime.now(UTC) - age
    with progress_bar(f"signing {label}") as bar:
        task = bar.add_task(label, total=count)
        for n in range(count):
            i = n // per_device if per_device else n % len(handsets.ids)
            seq = handsets.next_seq[i]
            handsets.next_seq[i] += 1
            claims = EventClaims.build(
                event_id=uuid.uuid4(),
                device_id=handsets.ids[i],
                carer_id=handsets.carers[i],
                seq=seq,
                type=EventType.CHECK_IN if seq % 2 == 0 else EventType.CHECK_OUT,
                device_time=now + timedelta(milliseconds=n),
                service_user_id=handsets.homes[i],
            )
            token = sign_compact(claims.to_json(), handsets.keys[i], kid=handsets.ids[i])
            events.append(Event(claims.event_id, events_topic(handsets.ids[i]), token.encode()))
            if n % 500 == 0:
                bar.update(task, completed=n)
        bar.update(task, completed=count)
    return events


@contextmanager
def progress_bar(label: str) -> Iterator[Progress]:
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        yield bar


@contextmanager
def ingest_role(
    settings: Settings, state_dir: Path, workers: int, receipts: bool = True
) -> Iterator[list[int]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
    env.update(
        ECM_INGEST_RECEIPTS=str(receipts).lower(),
        ECM_ENV="test",
        ECM_STATE_DIR=str(state_dir),
        ECM_DATABASE_URL=settings.database_url,
        ECM_MQTT_HOST=settings.mqtt_host,
        ECM_MQTT_PORT=str(settings.mqtt_port),
        ECM_INGEST_METRICS_PORT="0",
        ECM_LOG_LEVEL="WARNING",
    )
    log = (state_dir / "ingest.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "ecm", "ingest", "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    try:
        if not wait_for_ingest(settings, timeout_s=60):
            raise RuntimeError("ingest did not come online")
        time.sleep(1.0)  # every worker subscribed, not only the first
        yield _process_tree(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def _process_tree(pid: int) -> list[int]:
    pids = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        pids.extend(_process_tree(int(child)))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def server_pids(state_dir: Path) -> list[int]:
    """PostgreSQL (postmaster and its backends) and Mosquitto of the bench stack."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(state_dir).encode() in cmdline:
            found.extend(_process_tree(int(entry.name)))
    return sorted(set(found))


# --- measurements ----------------------------------------------------------------------------


def verify_limit(handsets: Handsets, count: int) -> float:
    """Ed25519 verifications per second on this one core (the ceiling of one worker)."""
    tokens = sign_events(handsets, count, "verify-limit events")
    key = handsets.keys[0].public_key()
    own = [parse_compact(t.payload) for t in tokens if t.topic == events_topic(handsets.ids[0])]
    started = time.perf_counter()
    rounds = max(1, count // max(len(own), 1))
    for _ in range(rounds):
        for signed in own:
            key.verify(signed.signature, signed.signing_input)
    return rounds * len(own) / (time.perf_counter() - started)


def copy_limit(settings: Settings, handsets: Handsets, count: int) -> float:
    """Binary COPY rows/s into the raw (partitioned) device_event table."""
    now = datetime.now(UTC)
    rows = []
    for n in range(count):
        claims = EventClaims.build(
            event_id=uuid.uuid4(),
            device_id=handsets.ids[0],
            carer_id=handsets.carers[0],
            seq=10_000_000 + n,
            type=EventType.CHECK_IN,
            device_time=now,
            service_user_id=handsets.homes[0],
        )
        message = ReceivedMessage(0, events_topic(handsets.ids[0]), b"x.y.z", now)
        rows.append(store.event_row(VerifiedEvent(message, claims, "P")))
    columns = ", ".join(store.EVENT_COLUMNS)
    with psycopg.connect(settings.database_url) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        with cur.copy(f"copy device_event ({columns}) from stdin (format binary)") as copy:
            copy.set_types(list(store.EVENT_TYPES))
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return count / (time.perf_counter() - started)


def count_stored(conn: psycopg.Connection, run: str) -> int:
    row = conn.execute(
        "select count(*) from device_event where device_id like %s", (f"{run}%",)
    ).fetchone()
    return int(row[0]) if row else 0


def flood(
    settings: Settings,
    events: list[Event],
    connections: int,
    *,
    rate: float | None = None,
    on_tick: Callable[[int], None] | None = None,
) -> FloodStats:
    """Publish events over `connections` connections, optionally at a fixed total rate."""
    stats = FloodStats()
    shares: list[list[tuple[int, str, bytes]]] = [[] for _ in range(connections)]
    for index, event in enumerate(events):
        shares[index % connections].append((index, event.topic, event.payload))

    async def _run() -> None:
        started = time.perf_counter()
        per_connection = rate / connections if rate else None

        def pacer(k: int) -> Callable[[], float] | None:
            if per_connection is None:
                return None
            sent = 0

            def _pace() -> float:
                nonlocal sent
                due = started + sent / per_connection
                sent += 1
                return due - time.perf_counter()

            return _pace

        run = uuid.uuid4().hex[:6]
        await asyncio.gather(
            *(
                publish_over_one_connection(
                    settings.mqtt_host,
                    settings.mqtt_port,
                    f"ecm-bench-{run}-{k}",
                    share,
                    stats,
                    pace=pacer(k),
                    tls=_operator_tls(settings),
                )
                for k, share in enumerate(shares)
            )
        )

    asyncio.run(_run())
    return stats


def wait_for_rows(
    conn: psycopg.Connection,
    run: str,
    target: int,
    label: str,
    timeout_s: float,
    timeline: list[tuple[float, int]] | None = None,
    started: float | None = None,
) -> float:
    """Poll until `target` rows are stored; returns the monotonic time it happened."""
    started = started or time.monotonic()
    with progress_bar(label) as bar:
        task = bar.add_task(label, total=target)
        while True:
            stored = count_stored(conn, run)
            now = time.monotonic()
            if timeline is not None:
                timeline.append((now - started, stored))
            bar.update(task, completed=stored)
            if stored >= target or now - started > timeout_s:
                return now
            time.sleep(0.2)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    run = f"B{uuid.uuid4().hex[:6]}"
    state_dir = ROOT / ".state" / f"bench-{os.getpid()}"
    shutil.rmtree(state_dir, ignore_errors=True)
    figures: dict[str, Any] = {
        "workers": args.workers,
        "events_throughput_phase": args.events,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": os.getloadavg()[0],
    }
    with running(state_dir) as endpoints:
        settings = Settings(
            env="test",
            database_url=endpoints.database_url,
            mqtt_host=endpoints.mqtt_host,
            mqtt_port=endpoints.mqtt_port,
            state_dir=state_dir,
        )
        upgrade(settings)
        console.print(f"registering {args.devices + args.storm_devices} handsets ...")
        handsets = register_handsets(settings, args.devices, run)
        storm = register_handsets(settings, args.storm_devices, run + "S")

        figures["ed25519_verify_per_s"] = round(verify_limit(handsets, args.limit_events))
        figures["copy_rows_per_s"] = round(copy_limit(settings, handsets, args.copy_rows))
        # The COPY above used its own seq range of the first handset; they are in the store.
        baseline_rows = args.copy_rows

        # Off and on alternate, `rounds` times each: on a shared machine the load drifts, and
        # a single pair would measure the drift as much as the receipts.
        bursts_off = [
            sign_events(handsets, args.events, f"throughput events, round {r + 1}, receipts off")
            for r in range(args.rounds)
        ]
        bursts_on = [
            sign_events(handsets, args.events, f"throughput events, round {r + 1}, receipts on")
            for r in range(args.rounds)
        ]
        paced = sign_events(handsets, args.rate * args.latency_s, "latency events")
        queued = sign_events(
            storm,
            args.storm_devices * args.storm_events,
            "storm events (hours old)",
            age=timedelta(hours=3),
            per_device=args.storm_events,
        )

        listener = ReceiptListener(settings)
        offs: list[Throughput] = []
        ons: list[Throughput] = []
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            for r in range(args.rounds):
                with ingest_role(settings, state_dir, args.workers, receipts=False) as pids:
                    offs.append(
                        throughput(settings, conn, run, bursts_off[r], args, pids, state_dir)
                    )
                if r < args.rounds - 1:
                    with ingest_role(settings, state_dir, args.workers, receipts=True) as pids:
                        ons.append(
                            throughput(settings, conn, run, bursts_on[r], args, pids, state_dir)
                        )
        figures["receipts_during_off_phases"] = listener.count(
            [e.event_id for burst in bursts_off for e in burst]
        )

        timeline: list[tuple[float, int]] = []
        with (
            ingest_role(settings, state_dir, args.workers, receipts=True) as pids,
            psycopg.connect(settings.database_url, autocommit=True) as conn,
        ):
            ons.append(
                throughput(settings, conn, run, bursts_on[-1], args, pids, state_dir, timeline)
            )
            off, on = mean_throughput(offs), mean_throughput(ons)
            figures["throughput_rounds"] = args.rounds
            figures["events_per_s_rounds_receipts_off"] = [t.events_per_s for t in offs]
            figures["events_per_s_rounds_receipts_on"] = [t.events_per_s for t in ons]
            figures["events_per_s_receipts_off"] = off.events_per_s
            figures["events_per_s_steady_receipts_off"] = off.steady
            figures["cpu_s_per_1k_events_receipts_off"] = off.cpu_per_1k
            figures["events_per_s"] = on.events_per_s
            figures["events_per_s_steady"] = on.steady
            figures["throughput_elapsed_s"] = on.elapsed
            figures["cpu_s_per_1k_events"] = on.cpu_per_1k
            figures["cpu_s_per_1k_events_broker_and_db"] = on.servers_cpu_per_1k
            figures["cpu_s_per_1k_events_broker_and_db_receipts_off"] = off.servers_cpu_per_1k
            # What a capacity plan needs: the servers' CPU (ingest, broker, database) per event.
            # The throughput ratio also carries the receipts' stand-in for the phones, which
            # shares this box's two cores but runs on the handsets in service.
            server_on = on.cpu_per_1k + on.servers_cpu_per_1k
            server_off = off.cpu_per_1k + off.servers_cpu_per_1k
            figures["server_cpu_s_per_1k_events"] = round(server_on, 3)
            figures["server_cpu_s_per_1k_events_receipts_off"] = round(server_off, 3)
            figures["receipts_server_capacity_ratio"] = round(server_off / server_on, 3)
            figures["receipts_on_off_ratio"] = round(on.events_per_s / off.events_per_s, 3)
            figures["receipts_on_off_ratio_steady"] = (
                round(on.steady / off.steady, 3) if off.steady else None
            )
            figures["receipts_cpu_ratio"] = round(on.cpu_per_1k / off.cpu_per_1k, 3)
            burst_ids = [e.event_id for burst in bursts_on for e in burst]
            figures["burst_receipted"] = listener.wait_for(burst_ids, 60)

            console.print(f"latency: {args.rate}/s for {args.latency_s} s")
            before_paced = count_stored(conn, run)
            paced_stats = flood(settings, paced, 4, rate=args.rate)
            wait_for_rows(conn, run, before_paced + len(paced), "stored", args.timeout)
            latencies = publish_to_commit_ms(conn, paced, paced_stats)
            figures["latency_events"] = len(latencies)
            figures["latency_rate_per_s"] = args.rate
            for name, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
                figures[f"latency_{name}_ms"] = round(percentile(latencies, share), 1)
            figures["latency_mean_ms"] = round(statistics.fmean(latencies), 1)
            paced_ids = [e.event_id for e in paced]
            figures["latency_receipted"] = listener.wait_for(paced_ids, 30)
            receipt_latencies = publish_to_receipt_ms(listener, paced, paced_stats)
            for name, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
                figures[f"receipt_latency_{name}_ms"] = round(
                    percentile(receipt_latencies, share), 1
                )

            console.print(
                f"reconnect storm: {args.storm_devices:,} devices x {args.storm_events} events"
            )
            before_storm = count_stored(conn, run)
            storm_started = time.monotonic()
            storm_stats = storm_flood(settings, queued, args.storm_devices, args.storm_events)
            storm_done = wait_for_rows(
                conn, run, before_storm + len(queued), "stored", args.timeout
            )
            figures["storm_devices"] = args.storm_devices
            figures["storm_events_per_device"] = args.storm_events
            figures["storm_drain_s"] = round(storm_done - storm_started, 2)
            figures["storm_acked_by_broker"] = storm_stats.acked
            figures["storm_receipted"] = listener.wait_for([e.event_id for e in queued], 60)

            bursts = [e for burst in bursts_off + bursts_on for e in burst]
            all_events = bursts + paced + queued
            acked = (
                sum(len(t.stats.acked_indexes) for t in offs + ons)
                + len(paced_stats.acked_indexes)
                + len(storm_stats.acked_indexes)
            )
            lost, duplicated, late = audit(conn, all_events)
            figures["events_sent"] = len(all_events)
            figures["events_confirmed"] = acked
            figures["lost"] = lost
            figures["duplicated"] = duplicated
            figures["storm_late_arriving"] = late
            figures["storm_lost"], figures["storm_duplicated"], _ = audit(conn, queued)
            figures["events_receipted"] = listener.count(
                [e.event_id for burst in bursts_on for e in burst]
                + [e.event_id for e in paced + queued]
            )
        listener.close()
        figures["timeline"] = [(round(t, 2), n - baseline_rows) for t, n in timeline]
    shutil.rmtree(state_dir, ignore_errors=True)
    return figures


def _operator_tls(settings: Settings) -> ssl.SSLContext:
    # The dev/test operator identity may publish as any device: one connection carries many
    # simulated handsets, which a device certificate would not allow (docs/identity.md).
    return service_identity(settings, "operator").ssl_context()


def storm_flood(settings: Settings, events: list[Event], devices: int, each: int) -> FloodStats:
    """Every storm device on its own connection, all connecting at once."""
    tls = _operator_tls(settings)
    stats = FloodStats()

    async def _run() -> None:
        await asyncio.gather(
            *(
                publish_over_one_connection(
                    settings.mqtt_host,
                    settings.mqtt_port,
                    f"ecm-storm-{d}-{uuid.uuid4().hex[:6]}",
                    [
                        (i, events[i].topic, events[i].payload)
                        for i in range(d * each, (d + 1) * each)
                    ],
                    stats,
                    max_inflight=20,
                    tls=tls,
                )
                for d in range(devices)
            )
        )

    asyncio.run(_run())
    return stats


@dataclass
class Throughput:
    events_per_s: int
    steady: int
    elapsed: float
    cpu_per_1k: float
    servers_cpu_per_1k: float
    stats: FloodStats


def throughput(
    settings: Settings,
    conn: psycopg.Connection,
    run: str,
    burst: list[Event],
    args: argparse.Namespace,
    pids: list[int],
    state_dir: Path,
    timeline: list[tuple[float, int]] | None = None,
) -> Throughput:
    """Publish `burst` as fast as the broker takes it; time until all of it is stored."""
    timeline = timeline if timeline is not None else []
    baseline = count_stored(conn, run)
    servers = server_pids(state_dir)
    cpu_before = cpu_seconds(pids)
    servers_before = cpu_seconds(servers)
    started = time.monotonic()
    console.print(f"throughput: {len(burst):,} events over {args.connections} connections")
    stats: dict[str, FloodStats] = {}

    def _publish() -> None:
        stats["burst"] = flood(settings, burst, args.connections)

    publisher = threading.Thread(target=_publish)
    publisher.start()
    done = wait_for_rows(
        conn, run, baseline + len(burst), "stored", args.timeout, timeline, started
    )
    publisher.join()
    elapsed = done - started
    stored = count_stored(conn, run) - baseline
    return Throughput(
        events_per_s=round(stored / elapsed),
        steady=round(steady_rate(timeline, baseline, len(burst))),
        elapsed=round(elapsed, 2),
        cpu_per_1k=round((cpu_seconds(pids) - cpu_before) / (stored / 1000), 3),
        servers_cpu_per_1k=round((cpu_seconds(servers) - servers_before) / (stored / 1000), 3),
        stats=stats["burst"],
    )


def mean_throughput(runs: list[Throughput]) -> Throughput:
    """The rounds' mean (events/s over their summed time, CPU per event over their events)."""
    return Throughput(
        events_per_s=round(statistics.fmean(t.events_per_s for t in runs)),
        steady=round(statistics.fmean(t.steady for t in runs)),
        elapsed=round(sum(t.elapsed for t in runs), 2),
        cpu_per_1k=round(statistics.fmean(t.cpu_per_1k for t in runs), 3),
        servers_cpu_per_1k=round(statistics.fmean(t.servers_cpu_per_1k for t in runs), 3),
        stats=runs[-1].stats,
    )


def steady_rate(timeline: list[tuple[float, int]], baseline: int, total: int) -> float:
    """Rows/s between 10 % and 90 % of the burst stored: start-up and tail excluded."""
    low = next((t for t, n in timeline if n - baseline >= 0.1 * total), None)
    high = next((t for t, n in timeline if n - baseline >= 0.9 * total), None)
    if low is None or high is None or high <= low:
        return 0.0
    return 0.8 * total / (high - low)


def publish_to_commit_ms(
    conn: psycopg.Connection, events: list[Event], stats: FloodStats
) -> list[float]:
    rows = conn.execute(
        "select event_id, extract(epoch from stored_at) from device_event where event_id = any(%s)",
        ([e.event_id for e in events],),
    ).fetchall()
    stored = {event_id: float(at) for event_id, at in rows}
    return [
        (stored[e.event_id] - stats.sent_at[i]) * 1000
        for i, e in enumerate(events)
        if e.event_id in stored and i in stats.sent_at
    ]


def publish_to_receipt_ms(
    listener: ReceiptListener, events: list[Event], stats: FloodStats
) -> list[float]:
    return [
        (listener.received_at[e.event_id] - stats.sent_at[i]) * 1000
        for i, e in enumerate(events)
        if e.event_id in listener.received_at and i in stats.sent_at
    ]


def audit(conn: psycopg.Connection, events: list[Event]) -> tuple[int, int, int]:
    """lost (sent, not stored), duplicated (stored more than once), late-arriving rows."""
    ids = [e.event_id for e in events]
    row = conn.execute(
        "select count(distinct event_id), count(*), count(*) filter (where late_arriving) "
        "from device_event where event_id = any(%s)",
        (ids,),
    ).fetchone()
    assert row is not None
    distinct, total, late = (int(v) for v in row)
    return len(ids) - distinct, total - distinct, late


# --- output ----------------------------------------------------------------------------------


def print_table(figures: dict[str, Any]) -> None:
    table = Table(title=f"Ingest benchmark ({figures['workers']} workers, {figures['machine']})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, label in (
        ("events_per_s", "events/s sustained, receipts on (verified, committed, acked)"),
        ("events_per_s_receipts_off", "events/s sustained, receipts off"),
        ("receipts_on_off_ratio", "ratio receipts on / off (goal >= 0.9), mean of rounds"),
        ("receipts_cpu_ratio", "ingest CPU per event, receipts on / off"),
        ("events_per_s_steady", "events/s between 10% and 90% stored, receipts on"),
        ("events_per_s_steady_receipts_off", "events/s between 10% and 90% stored, off"),
        ("latency_p50_ms", "publish-to-commit p50 ms at 1,000/s"),
        ("latency_p95_ms", "publish-to-commit p95 ms"),
        ("latency_p99_ms", "publish-to-commit p99 ms"),
        ("receipt_latency_p50_ms", "publish-to-receipt p50 ms at 1,000/s"),
        ("receipt_latency_p99_ms", "publish-to-receipt p99 ms"),
        ("cpu_s_per_1k_events", "ingest CPU s per 1k events, receipts on"),
        ("cpu_s_per_1k_events_receipts_off", "ingest CPU s per 1k events, receipts off"),
        ("cpu_s_per_1k_events_broker_and_db", "broker + DB CPU s per 1k events, receipts on"),
        ("cpu_s_per_1k_events_broker_and_db_receipts_off", "broker + DB CPU s per 1k events, off"),
        ("server_cpu_s_per_1k_events", "server CPU s per 1k events (ingest+broker+DB), on"),
        ("server_cpu_s_per_1k_events_receipts_off", "server CPU s per 1k events, off"),
        ("receipts_server_capacity_ratio", "server capacity with receipts, CPU off / on"),
        ("ed25519_verify_per_s", "limit: Ed25519 verify/s, one core"),
        ("copy_rows_per_s", "limit: COPY rows/s into device_event"),
        ("storm_drain_s", "reconnect storm drain s"),
        ("storm_late_arriving", "storm events stored as late-arriving"),
        ("storm_receipted", "storm events receipted"),
        ("storm_lost", "storm lost"),
        ("storm_duplicated", "storm duplicated"),
        ("events_sent", "events sent"),
        ("events_confirmed", "confirmed (PUBACK)"),
        ("events_receipted", "receipted (receipts-on phases)"),
        ("lost", "lost"),
        ("duplicated", "duplicated"),
    ):
        value = figures.get(key)
        table.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)


def plot(figures: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    times = [t for t, _ in figures["timeline"]]
    rows = [n for _, n in figures["timeline"]]
    ax.plot(times, rows, label="events committed")
    ax.set_xlabel("seconds since the burst started")
    ax.set_ylabel("events stored")
    ax.set_title(
        f"Ingest burst with receipts: {figures['events_per_s']:,} events/s "
        f"({figures['receipts_on_off_ratio']}x off), {figures['workers']} workers"
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="a quick run while developing")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument(
        "--rounds", type=int, default=2, help="throughput bursts with receipts off, and on"
    )
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--latency-s", type=int, default=20)
    parser.add_argument("--storm-devices", type=int, default=2000)
    parser.add_argument("--storm-events", type=int, default=100)
    parser.add_argument("--limit-events", type=int, default=20_000)
    parser.add_argument("--copy-rows", type=int, default=50_000)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS / "ingest.json")
    args = parser.parse_args()
    if args.small:
        args.events, args.devices, args.latency_s = 10_000, 100, 5
        args.storm_devices, args.storm_events = 200, 20
        args.limit_events, args.copy_rows = 3000, 10_000
    figures = run_bench(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figures["plot"] = os.path.relpath(args.out.with_suffix(".png"), ROOT)
    plot(figures, args.out.with_suffix(".png"))
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print_table(figures)
    console.print(f"written to {args.out} and {figures['plot']}")


if __name__ == "__main__":
    main()
