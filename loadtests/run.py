"""`make loadtest`: bring up a private stack, load a week of visits, run the locust users
headless, and write loadtests/results/locust_*.csv plus loadtests/results/locust_summary.json.

    .venv/bin/python -m loadtests.run [--users 100] [--duration 60s] [--visits 200]

The stack (PostgreSQL, Mosquitto, `ecm ingest`, `ecm api`, `ecm telephony serve`) runs under
.state/loadtest and stops when the run ends. The goals: one provider's week of visits, p95
under 100 ms; every request, p99 at most 250 ms. Beside locust, loadtests/baseline.py measures
`/health`, the API's event-loop lag and the machine's load in the same run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Connection

from api.auth.accounts import add_account
from api.auth.roles import Role
from core.db import make_engine
from core.migrate import upgrade
from core.process import child_preexec, free_port
from core.settings import Settings
from ecm import services
from firmware_sim.morning import simulate_morning
from firmware_sim.outbox import Outbox
from firmware_sim.publisher import Uplink
from firmware_sim.world import World, generate_world
from gateway.evidence.keys import KeyRing
from gateway.homes import import_devices
from gateway.pki.devices import DeviceCertificates
from gateway.pki.identity import TlsIdentity
from gateway.registry import Commission, Council
from gateway.telephony import bridges
from gateway.telephony.pins import PinHasher
from gateway.telephony.service import set_carer_pin
from ingest.readiness import wait_for_ingest
from loadtests.baseline import run_seconds
from loadtests.locustfile import WEEK_OF_VISITS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
# Written by loadtests/baseline.py, folded into locust_summary.json.
BASELINE = RESULTS / "baseline.json"
GOAL_P95_MS = 100.0
# Issue 18: with sign-ins in the mix, the slowest 1% of all requests within 250 ms.
GOAL_ALL_P99_MS = 250.0
COUNCIL_ID = "C-LOAD"
LONDON = ZoneInfo("Europe/London")
console = Console(width=140)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--spawn-rate", type=float, default=20)
    parser.add_argument("--duration", default="60s", help="locust --run-time, e.g. 60s, 2m")
    parser.add_argument(
        "--wait", default="2,6", help="seconds a person pauses between pages: MIN,MAX"
    )
    parser.add_argument(
        "--user-classes",
        nargs="*",
        default=[],
        help="locust user classes to run (default: all of ProviderManager, CouncilOfficer, "
        "SignIn, HandsetUser, TelephonyCaller)",
    )
    parser.add_argument("--visits", type=int, default=200, help="visits planned per day")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--api-port", type=int, default=8100)
    args = parser.parse_args()

    state_dir = ROOT / ".state" / "loadtest"
    shutil.rmtree(state_dir, ignore_errors=True)
    with stack(state_dir, args.api_port) as (settings, api_url):
        days = [datetime.now(LONDON).date() - timedelta(days=n) for n in range(args.days)]
        world, stored = load_week(settings, api_url, days, args.visits, args.seed)
        accounts = make_accounts(settings, api_url, world, days)
        accounts["telephony_url"] = settings.telephony_public_url
        accounts["telephony_token"] = settings.telephony_auth_token
        accounts_file, world_file = state_dir / "accounts.json", state_dir / "world.json"
        accounts_file.write_text(json.dumps(accounts))
        world.save(world_file)
        console.print(f"{stored} events stored for {len(days)} days; running locust")
        run_locust(args, settings, api_url, accounts_file, world_file)
    summary = summarise(args, stored)
    (RESULTS / "locust_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_table(summary)


@contextmanager
def stack(state_dir: Path, api_port: int) -> Iterator[tuple[Settings, str]]:
    with services.running(state_dir) as endpoints:
        telephony_port = free_port()
        settings = Settings(
            env="dev",
            # loadtests/baseline.py reads the API's event-loop lag from its /metrics.
            metrics_token=secrets.token_hex(16),
            state_dir=state_dir,
            database_url=endpoints.database_url,
            mqtt_host=endpoints.mqtt_host,
            mqtt_port=endpoints.mqtt_port,
            api_port=api_port,
            telephony_port=telephony_port,
            telephony_auth_token=secrets.token_hex(16),
            telephony_public_url=f"http://127.0.0.1:{telephony_port}",
        )
        upgrade(settings)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
        env.update(endpoints.as_env(), ECM_STATE_DIR=str(state_dir), ECM_ENV="dev")
        api_env = {
            **env,
            "ECM_METRICS_TOKEN": settings.metrics_token or "",
            # No metrics port of its own: a fixed port would collide with another stack's.
            "ECM_API_METRICS_PORT": "0",
        }
        telephony_env = {
            **env,
            "ECM_TELEPHONY_AUTH_TOKEN": settings.telephony_auth_token or "",
            "ECM_TELEPHONY_PUBLIC_URL": settings.telephony_public_url or "",
        }
        (state_dir / "logs").mkdir(exist_ok=True)
        roles = [
            start_role(["ingest"], env, state_dir / "logs" / "ingest.log"),
            start_role(["api", "--port", str(api_port)], api_env, state_dir / "logs" / "api.log"),
            start_role(
                ["telephony", "serve", "--port", str(telephony_port)],
                telephony_env,
                state_dir / "logs" / "telephony.log",
            ),
        ]
        api_url = f"http://127.0.0.1:{api_port}"
        try:
            if not wait_for_ingest(settings, timeout_s=60):
                raise SystemExit("ingest did not come online; see .state/loadtest/logs")
            wait_healthy(api_url)
            wait_healthy(settings.telephony_public_url or "")
            yield settings, api_url
        finally:
            for role in roles:
                role.send_signal(signal.SIGTERM)
            for role in roles:
                role.wait(timeout=30)


def start_role(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ecm", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=child_preexec(signal.SIGTERM),
        )


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not become healthy; see .state/loadtest/logs")


def add_user(settings: Settings, username: str, role: Role, **tenant: str) -> str:
    password = secrets.token_urlsafe(16)
    engine = make_engine(settings, "loadtest", pool_size=1)
    try:
        with engine.begin() as conn:
            add_account(conn, username, password, role, **tenant)
    finally:
        engine.dispose()
    return password


def provision_handsets(settings: Settings, device_ids: list[str]) -> dict[str, TlsIdentity]:
    """Device certificates as `ecm devices provision --local` issues them, under <state>/pki."""
    engine = make_engine(settings, "loadtest", pool_size=1)
    try:
        with engine.begin() as conn:
            return DeviceCertificates(settings).provision_local(conn, device_ids)
    finally:
        engine.dispose()


def load_week(
    settings: Settings, api_url: str, days: list[date], visits: int, seed: int
) -> tuple[World, int]:
    """Seed the registry through the API and publish every day's visits through MQTT."""
    password = add_user(settings, "load-admin", Role.ADMINISTRATOR)
    token = httpx.post(
        f"{api_url}/auth/token", data={"username": "load-admin", "password": password}
    ).json()["access_token"]
    # The telephony world has the same rota, plus numbers, carer numbers, PINs and landlines
    # for the telephony callers; the week's handsets publish as always.
    worlds = [generate_world(seed, visits=visits, day=day, telephony=True) for day in days]
    document = worlds[0].registry_document()
    document = document.model_copy(
        update={
            "councils": [Council(id=COUNCIL_ID, name="Load Test Council")],
            "commissions": [
                Commission(council_id=COUNCIL_ID, provider_id=p.id) for p in document.providers
            ],
        }
    )
    httpx.post(
        f"{api_url}/registry/seed",
        content=document.model_dump_json(),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
        timeout=60,
    ).raise_for_status()
    identities = provision_handsets(settings, [d.id for d in document.devices])
    engine = make_engine(settings, "loadtest", pool_size=1)
    try:
        with engine.begin() as conn:
            # Every day's world has the same homes: their tags and fobs are imported once.
            import_devices(conn, KeyRing(settings.master_key), worlds[0].home_devices_document())
            register_telephony(conn, settings, worlds[0])
    finally:
        engine.dispose()
    acked = 0
    with (
        Uplink(
            settings.mqtt_host,
            settings.mqtt_port,
            device_identity=identities.__getitem__,
            # The phones' outbox carries each handset's seq from one day to the next, as a real
            # phone's does; without it every day would replay day one's sequence numbers.
            outbox=Outbox(settings.state_dir / "handsets-outbox.sqlite"),
        ) as uplink,
        Progress() as progress,
    ):
        task = progress.add_task("publishing a week of visits", total=len(worlds))
        for world in worlds:
            acked += simulate_morning(world, uplink, seed=seed).events_acked
            progress.advance(task)
    with psycopg.connect(settings.database_url, autocommit=True) as db:
        deadline = time.monotonic() + 120
        while True:
            row = db.execute("select count(*) from device_event").fetchone()
            stored = int(row[0]) if row else 0
            if stored >= acked or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    return worlds[0], stored


def register_telephony(conn: Connection, settings: Settings, world: World) -> None:
    """PINs as `ecm telephony pin` sets them, and each provider's bridge device as `ecm
    telephony provision` makes it (its certificate written under <state>/pki)."""
    pins = PinHasher(settings.master_key)
    for carer in world.carers:
        set_carer_pin(conn, pins, carer.id, carer.pin, "loadtest")
    created = bridges.provision(conn, KeyRing(settings.master_key), [p.id for p in world.providers])
    DeviceCertificates(settings).provision_local(conn, created)


def sign_in(api_url: str, username: str, password: str) -> str:
    response = httpx.post(
        f"{api_url}/auth/token", data={"username": username, "password": password}, timeout=30
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def make_accounts(
    settings: Settings, api_url: str, world: World, days: list[date]
) -> dict[str, Any]:
    """One account per provider and one council officer, each signed in once: people keep a
    token for its lifetime, so the users browse with it rather than sign in again (sign-in is
    argon2id, deliberately slow, and measured by its own small row)."""
    managers = []
    for provider in world.providers:
        username = f"manager-{provider.id}"
        password = add_user(settings, username, Role.PROVIDER_MANAGER, provider_id=provider.id)
        managers.append(
            {
                "username": username,
                "provider_id": provider.id,
                "password": password,
                "token": sign_in(api_url, username, password),
            }
        )
    password = add_user(settings, "officer-load", Role.COUNCIL_OFFICER, council_id=COUNCIL_ID)
    officer = {
        "username": "officer-load",
        "password": password,
        "token": sign_in(api_url, "officer-load", password),
    }
    return {
        "provider_managers": managers,
        "council_officers": [officer],
        "days": [day.isoformat() for day in days],
        "mqtt_host": settings.mqtt_host,
        "mqtt_port": settings.mqtt_port,
        # Handset users connect with their device certificates from <state>/pki.
        "state_dir": str(settings.state_dir),
    }


def start_baseline(
    args: argparse.Namespace, settings: Settings, api_url: str
) -> subprocess.Popen[bytes]:
    """loadtests/baseline.py over the measured part of the run: from when every user has
    spawned (locust resets its statistics then) to the end."""
    spawned_s = args.users / args.spawn_rate + 1
    measured_s = max(5.0, run_seconds(args.duration) - spawned_s - 1)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadtests.baseline",
            "--url",
            api_url,
            "--metrics-token",
            settings.metrics_token or "",
            "--database-url",
            settings.database_url,
            "--delay",
            str(spawned_s),
            "--duration",
            str(measured_s),
            "--out",
            str(BASELINE),
        ],
        cwd=ROOT,
    )


def run_locust(
    args: argparse.Namespace,
    settings: Settings,
    api_url: str,
    accounts_file: Path,
    world_file: Path,
) -> None:
    RESULTS.mkdir(exist_ok=True)
    BASELINE.unlink(missing_ok=True)
    baseline = start_baseline(args, settings, api_url)
    env = {
        **os.environ,
        "ECM_LOADTEST_ACCOUNTS": str(accounts_file),
        "ECM_LOADTEST_WORLD": str(world_file),
        "ECM_LOADTEST_WAIT": args.wait,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "firmware-sim")]),
    }
    subprocess.run(
        [
            str(Path(sys.executable).parent / "locust"),
            "-f",
            str(Path(__file__).parent / "locustfile.py"),
            "--headless",
            "--users",
            str(args.users),
            "--spawn-rate",
            str(args.spawn_rate),
            "--run-time",
            args.duration,
            "--host",
            api_url,
            "--csv",
            str(RESULTS / "locust"),
            "--only-summary",
            # Sign-ins (argon2id, deliberately slow) happen while users spawn: measure browsing.
            "--reset-stats",
            "--exit-code-on-error",
            "0",
            *args.user_classes,
        ],
        env=env,
        cwd=ROOT,
        check=True,
    )
    if baseline.wait(timeout=120) != 0:
        console.print("the baseline (loadtests/baseline.py) failed; the summary has none")


def summarise(args: argparse.Namespace, stored: int) -> dict[str, Any]:
    with (RESULTS / "locust_stats.csv").open() as stats:
        rows = list(csv.DictReader(stats))
    requests: list[dict[str, Any]] = [
        {
            "type": row["Type"],
            "name": row["Name"],
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "median_ms": float(row["Median Response Time"]),
            "p95_ms": float(row["95%"]),
            "p99_ms": float(row["99%"]),
            "rps": round(float(row["Requests/s"]), 1),
        }
        for row in rows
    ]
    week = next((r for r in requests if r["name"] == WEEK_OF_VISITS), None)
    week_p95 = float(week["p95_ms"]) if week else None
    # Locust's "Aggregated" row: every request of every type (HTTP and MQTT publishes).
    everything = next((r for r in requests if r["name"] == "Aggregated"), None)
    all_p99 = float(everything["p99_ms"]) if everything else None
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else None
    return {
        "measured_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [float(x) for x in os.getloadavg()],
        },
        "users": args.users,
        "duration": args.duration,
        "wait_s": args.wait,
        "user_classes": args.user_classes or "all",
        "visits_per_day": args.visits,
        "days": args.days,
        "events_stored": stored,
        "goal": f"p95 of '{WEEK_OF_VISITS}' under {GOAL_P95_MS:.0f} ms",
        "week_of_visits_p95_ms": week_p95,
        "goal_met": bool(
            week and week_p95 is not None and week_p95 < GOAL_P95_MS and week["failures"] == 0
        ),
        "all_requests_goal": f"p99 of all requests at most {GOAL_ALL_P99_MS:.0f} ms",
        "all_requests_p99_ms": all_p99,
        "all_requests_goal_met": bool(all_p99 is not None and all_p99 <= GOAL_ALL_P99_MS),
        # Below 1 the goal is met; read it beside the baseline of the same run.
        "all_requests_p99_to_limit": round(all_p99 / GOAL_ALL_P99_MS, 2)
        if all_p99 is not None
        else None,
        "baseline": baseline,
        "requests": requests,
    }


def print_table(summary: dict[str, Any]) -> None:
    table = Table(
        title=f"locust: {summary['users']} users for {summary['duration']}, "
        f"pausing {summary['wait_s']} s between pages"
    )
    for column in ("type", "name", "requests", "failures", "median ms", "p95 ms", "p99 ms", "rps"):
        table.add_column(column, justify="left" if column in ("type", "name") else "right")
    for r in summary["requests"]:
        table.add_row(
            r["type"],
            r["name"],
            str(r["requests"]),
            str(r["failures"]),
            f"{r['median_ms']:.0f}",
            f"{r['p95_ms']:.0f}",
            f"{r['p99_ms']:.0f}",
            f"{r['rps']}",
        )
    console.print(table)
    console.print(f"goal: {summary['goal']}: {'met' if summary['goal_met'] else 'NOT met'}")
    met = "met" if summary["all_requests_goal_met"] else "NOT met"
    console.print(
        f"goal: {summary['all_requests_goal']}: {met} (p99 {summary['all_requests_p99_ms']} ms, "
        f"{summary['all_requests_p99_to_limit']} of the limit)"
    )
    console.print(baseline_line(summary["baseline"]))


def baseline_line(baseline: dict[str, Any] | None) -> str:
    if not baseline:
        return "baseline: not measured"
    health, lag, machine = baseline["health"], baseline["loop_lag"], baseline["machine"]
    return (
        f"baseline, same run: GET /health p50 / p99 {health.get('median_ms')} / "
        f"{health.get('p99_ms')} ms ({health['requests']} probes); event-loop lag p99 "
        f"<= {lag.get('p99_at_most_ms')} ms, {lag.get('over_100_ms')} of {lag['samples']} "
        f"over 100 ms; load average {machine['load_average_1min_mean']} (max "
        f"{machine['load_average_1min_max']}), CPU busy {machine['cpu_busy_percent']}%, "
        f"iowait {machine.get('cpu_iowait_percent')}%, steal {machine['cpu_steal_percent']}%; "
        f"{baseline.get('database_sessions_opened')} database sessions opened"
    )


if __name__ == "__main__":
    main()
