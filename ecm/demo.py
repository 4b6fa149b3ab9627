"""`ecm demo`: a care morning for a small council, end to end through the real stack.

It owns a fresh stack under <state>/demo (evidence is append-only, so each demo starts clean),
runs the ingest and api roles as child processes, seeds the registry through the API, lets the
simulated handsets publish the morning over MQTT, waits until every event the broker accepted
is stored or quarantined, and prints what happened.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click
import httpx
import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Connection

from core.migrate import upgrade
from core.process import child_preexec, free_port
from core.settings import Settings, get_settings
from ecm import demo_requests, demo_store, services
from gateway.pki.authority import write_secret
from gateway.pki.identity import TlsIdentity
from gateway.protocol.receipts import COUNTED

if TYPE_CHECKING:
    from ecm.demo_telephony import PhoneLog
    from firmware_sim.anomalies import PlayedAnomaly
    from firmware_sim.world import World
    from visits.kpis import ProviderKpis

LONDON = ZoneInfo("Europe/London")
console = Console()
DEMO_COUNCIL = "LA1"
# Played on a few visits each; dead phones also happen at random (docs/simulator.md).
DEMO_ANOMALIES = (
    "ghost_visit",
    "buddy_punching",
    "clock_set_back",
    "cloned_tag",
    "dead_phone",
    "no_signal",
    "two_homes",
)
# The demo's simulated clock steps through the morning, evaluating alerts as it goes.
ALERT_STEP = timedelta(minutes=5)


@dataclass(frozen=True)
class StoreCounts:
    stored: int
    quarantined: int
    by_reason: dict[str, int]
    by_evidence: dict[str, int]

    @property
    def total(self) -> int:
        return self.stored + self.quarantined


@click.command("demo")
@click.option("--seed", default=2026, show_default=True, help="Seed of the simulated council.")
@click.option("--visits", default=200, show_default=True)
@click.option("--tampered", default=3, show_default=True, help="Forged events to send.")
@click.option("--api-port", default=8000, show_default=True, help="Used if free, else any.")
@click.option(
    "--hold/--no-hold", default=None, help="Keep the API running until Ctrl-C (default: on a tty)."
)
def command(seed: int, visits: int, tampered: int, api_port: int, hold: bool | None) -> None:
    """Simulate a care morning end to end and print a summary."""
    # Stop cleanly on Ctrl-C and on SIGTERM, even where the parent started us with SIGINT
    # ignored (a background job): the finally blocks stop the roles and the servers.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    state_dir = get_settings().state_dir / "demo"
    if services.status(state_dir) is not None:
        raise click.ClickException(f"a demo is already running from {state_dir}")
    shutil.rmtree(state_dir, ignore_errors=True)
    started = time.monotonic()
    with _stack(state_dir, api_port) as (settings, api_url):
        # A morning already over: ingest quarantines device times in the future as clock skew.
        now = datetime.now(LONDON)
        day = now.date() if now.hour >= 15 else now.date() - timedelta(days=1)
        summary = _run_morning(
            settings, api_url, seed=seed, visits=visits, tampered=tampered, day=day
        )
        _print_summary(summary, time.monotonic() - started)
        _replay_alerts_and_kpis(settings, day, summary.anomalies)
        _print_telephony_and_carer_days(settings, api_url, summary, day)
        console.print(demo_requests.place_requests(settings, DEMO_COUNCIL))
        console.print(f"\nAPI: [bold]{api_url}[/]  (OpenAPI: {api_url}/docs)")
        console.print(
            f"Portal: {api_url}/portal/sign-in as [bold]{DEMO_ADMIN}[/] "
            f"with password [bold]{summary.admin_password}[/]"
        )
        console.print(f"Visit log: {api_url}/providers/P001/visits?date={day.isoformat()}")
        if hold if hold is not None else sys.stdout.isatty():
            console.print("Press Ctrl-C to stop the demo (servers stop with it).")
            _wait_for_interrupt()


@contextmanager
def _stack(state_dir: Path, api_port: int) -> Iterator[tuple[Settings, str]]:
    with services.running(state_dir) as endpoints:
        settings = Settings(
            env="dev",
            state_dir=state_dir,
            database_url=endpoints.database_url,
            mqtt_host=endpoints.mqtt_host,
            mqtt_port=endpoints.mqtt_port,
            api_port=free_port(api_port),
        )
        console.print(f"PostgreSQL and Mosquitto up under {state_dir}")
        upgrade(settings)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
        env.update(endpoints.as_env(), ECM_STATE_DIR=str(state_dir), ECM_ENV="dev")
        logs = state_dir / "logs"
        logs.mkdir(exist_ok=True)
        api_url = f"http://127.0.0.1:{settings.api_port}"
        roles = [
            _start_role(["ingest"], env, logs / "ingest.log"),
            _start_role(["api", "--port", str(settings.api_port)], env, logs / "api.log"),
        ]
        try:
            _wait_ready(settings, api_url, roles)
            console.print(f"ingest and api running (logs in {logs})")
            yield settings, api_url
        finally:
            for role in roles:
                role.send_signal(signal.SIGTERM)
            for role in roles:
                try:
                    role.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    role.kill()


def _start_role(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ecm", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=child_preexec(signal.SIGTERM),
        )


def _wait_ready(settings: Settings, api_url: str, roles: list[subprocess.Popen[bytes]]) -> None:
    from ingest.readiness import wait_for_ingest

    if not wait_for_ingest(settings, timeout_s=60):
        raise click.ClickException("ingest did not come online; see its log")
    deadline = time.monotonic() + 60
    while True:
        if any(role.poll() is not None for role in roles):
            raise click.ClickException("a role exited during start-up; see the logs")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise click.ClickException("the API did not become healthy; see its log")
        time.sleep(0.2)


@dataclass(frozen=True)
class MorningSummary:
    providers: int
    carers: int
    service_users: int
    visits_planned: int
    events_sent: int
    events_acked: int
    # Handsets' events whose receipt came back (protocol v1.1), and what the carers were shown.
    events_receipted: int
    feedback: dict[str, int]
    tampered_sent: int
    counts: StoreCounts
    expected_complete: int
    expected_open: int
    complete: int
    open: int
    per_provider: list[tuple[str, int, int]]
    admin_password: str
    anomalies: list[PlayedAnomaly]
    # Landline calls: what the telephony bridges published, and the calls placed.
    bridge_events: int
    phone_log: PhoneLog
    auth: dict[str, str]


DEMO_ADMIN = "demo-admin"


def _sign_in_as_admin(settings: Settings, api_url: str) -> tuple[str, dict[str, str]]:
    """An administrator for this demo's database, signed in: its password and bearer header."""
    from api.auth.accounts import add_account
    from api.auth.roles import Role
    from core.db import make_engine

    password = secrets.token_urlsafe(12)
    engine = make_engine(settings, "demo", pool_size=1)
    try:
        with engine.begin() as conn:
            add_account(conn, DEMO_ADMIN, password, Role.ADMINISTRATOR)
    finally:
        engine.dispose()
    response = httpx.post(
        f"{api_url}/auth/token", data={"username": DEMO_ADMIN, "password": password}, timeout=30
    )
    response.raise_for_status()
    return password, {"authorization": f"Bearer {response.json()['access_token']}"}


def _run_morning(
    settings: Settings, api_url: str, *, seed: int, visits: int, tampered: int, day: date
) -> MorningSummary:
    from ecm import demo_telephony
    from firmware_sim.anomalies import parse_kinds
    from firmware_sim.morning import simulate_morning
    from firmware_sim.publisher import Uplink
    from firmware_sim.world import generate_world

    # A few homes have a landline and neither tag nor fob: their visits are called in.
    world = generate_world(seed, visits=visits, day=day, telephony=True)
    document = world.registry_document(DEMO_COUNCIL)
    admin_password, auth = _sign_in_as_admin(settings, api_url)
    response = httpx.post(
        f"{api_url}/registry/seed",
        content=document.model_dump_json(),
        timeout=30,
        headers={"content-type": "application/json", **auth},
    )
    response.raise_for_status()
    console.print(f"registry seeded through the API: {response.json()}")
    homes = _provision_home_devices(settings, world)
    console.print(f"home tags and fobs provisioned, keys sealed: {homes}")
    demo_telephony.register(settings, api_url, auth, world)
    console.print("telephone PINs and pay rates set through the API, telephony bridges provisioned")
    identities = _provision_handsets(settings, api_url, auth, [d.id for d in document.devices])
    console.print(f"{len(identities)} handsets provisioned with client certificates")
    imported = httpx.post(
        f"{api_url}/schedules",
        content=world.schedule_csv(),
        timeout=30,
        headers={"content-type": "text/csv", **auth},
    )
    imported.raise_for_status()
    console.print(f"schedule imported through the API: {imported.json()['created']} planned visits")

    clock = demo_telephony.SimClock()
    phone_log = demo_telephony.PhoneLog()
    with (
        Uplink(
            settings.mqtt_host, settings.mqtt_port, device_identity=identities.__getitem__
        ) as uplink,
        psycopg.connect(settings.database_url, application_name="ecm.demo", autocommit=True) as db,
        demo_telephony.telephony_role(settings, clock) as telephony,
        _progress() as progress,
    ):
        sending = progress.add_task("handsets publishing", total=None)

        def on_progress(sent: int, total: int) -> None:
            progress.update(sending, completed=sent, total=total)

        result = simulate_morning(
            world,
            uplink,
            tampered=tampered,
            anomalies=parse_kinds(DEMO_ANOMALIES),
            on_progress=on_progress,
            seed=seed,
            phone=demo_telephony.phone(telephony, clock, phone_log),
        )
        demo_telephony.forge(telephony, world, phone_log)
        bridge_events = demo_telephony.wait_published(settings)
        expected = result.events_acked + bridge_events
        storing = progress.add_task("ingest storing", total=expected)
        deadline = time.monotonic() + 120
        while True:
            counts = _store_counts(db)
            progress.update(storing, completed=counts.total)
            if counts.total >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.2)

        # Each handset keeps its events until ingest's receipt names them.
        uplink.wait_receipted(timeout=60)
        feedback: dict[str, int] = {}
        for words in uplink.feedback.values():
            feedback[words] = feedback.get(words, 0) + 1
        events_receipted = uplink.receipted

    per_provider = []
    for provider in document.providers:
        summary = httpx.get(
            f"{api_url}/providers/{provider.id}/visits/summary",
            params={"date": day.isoformat()},
            timeout=30,
            headers=auth,
        ).json()
        per_provider.append((provider.id, summary["complete"], summary["open"]))
    return MorningSummary(
        providers=len(document.providers),
        carers=len(document.carers),
        service_users=len(document.service_users),
        visits_planned=result.visits_planned,
        events_sent=result.events_sent,
        events_acked=result.events_acked,
        events_receipted=events_receipted,
        feedback=feedback,
        tampered_sent=result.tampered_sent,
        counts=counts,
        expected_complete=result.expected_complete,
        expected_open=result.expected_open,
        complete=sum(row[1] for row in per_provider),
        open=sum(row[2] for row in per_provider),
        per_provider=per_provider,
        admin_password=admin_password,
        anomalies=result.anomalies,
        bridge_events=bridge_events,
        phone_log=phone_log,
        auth=auth,
    )


def _provision_home_devices(settings: Settings, world: World) -> dict[str, int]:
    """Import the homes' programming sheet as production does (`ecm homes import`)."""
    from core.db import make_engine
    from gateway.evidence.keys import KeyRing
    from gateway.homes import import_devices

    engine = make_engine(settings, "demo", pool_size=1)
    try:
        with engine.begin() as conn:
            counts = import_devices(
                conn, KeyRing(settings.master_key), world.home_devices_document()
            )
    finally:
        engine.dispose()
    return {"tags": counts.tags, "fobs": counts.fobs}


def _provision_handsets(
    settings: Settings, api_url: str, auth: dict[str, str], device_ids: list[str]
) -> dict[str, TlsIdentity]:
    """Each handset gets its certificate through the API, as a provider's admin would."""
    from gateway.pki.identity import device_identity
    from gateway.pki.layout import pki_layout

    layout = pki_layout(settings.state_dir)
    identities = {}
    for device_id in device_ids:
        response = httpx.post(
            f"{api_url}/devices/{device_id}/certificate", headers=auth, timeout=30
        )
        response.raise_for_status()
        issued = response.json()
        cert_file, key_file = layout.device_cert(device_id)
        cert_file.parent.mkdir(parents=True, exist_ok=True)
        cert_file.write_text(issued["certificate_pem"])
        write_secret(key_file, issued["private_key_pem"].encode())
        identities[device_id] = device_identity(
            settings.state_dir, device_id, settings.mqtt_ca_file
        )
    return identities


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _store_counts(db: psycopg.Connection) -> StoreCounts:
    stored, by_reason, by_evidence = demo_store.store_counts(db)
    return StoreCounts(stored, sum(by_reason.values()), by_reason, by_evidence)


def _print_summary(summary: MorningSummary, elapsed_s: float) -> None:
    counts = summary.counts
    lost = summary.events_acked + summary.bridge_events - counts.total
    table = Table(title="Care morning: summary", show_lines=False)
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_column("note")
    table.add_row(
        "providers / carers / service users",
        f"{summary.providers} / {summary.carers} / {summary.service_users}",
        "",
    )
    table.add_row("planned visits", str(summary.visits_planned), "")
    table.add_row(
        "events sent",
        str(summary.events_sent + summary.tampered_sent + summary.bridge_events),
        f"{summary.events_sent} signed by handsets, {summary.tampered_sent} forged, "
        f"{summary.bridge_events} by the telephony bridges (landline calls)",
    )
    table.add_row(
        "events acknowledged by broker",
        str(summary.events_acked + summary.bridge_events),
        "",
    )
    table.add_row(
        "events receipted",
        str(summary.events_receipted + summary.bridge_events),
        f"{summary.events_receipted} to handsets, {summary.bridge_events} to the bridges",
    )
    counted = summary.feedback.get(COUNTED, 0)
    table.add_row(
        "carers shown: visit counted",
        str(counted),
        f"{summary.events_receipted - counted} shown why not (e.g. tag, code, clock)",
    )
    table.add_row(
        "events stored as evidence",
        str(counts.stored),
        "by evidence: " + ", ".join(f"{k} {v}" for k, v in counts.by_evidence.items()),
    )
    table.add_row(
        "events quarantined",
        str(counts.quarantined),
        ", ".join(f"{k}: {v}" for k, v in counts.by_reason.items()),
    )
    table.add_row("events lost", str(lost), "acked by broker, neither stored nor quarantined")
    table.add_row(
        "carer visits complete (API)",
        str(summary.complete),
        f"expected {summary.expected_complete}",
    )
    table.add_row(
        "carer visits open (API)",
        str(summary.open),
        f"expected {summary.expected_open} (phone died before check-out)",
    )
    table.add_row("elapsed", f"{elapsed_s:.1f} s", "")
    console.print(table)
    console.print("A double-handed visit counts once per carer.")

    providers = Table(title="Visits per provider (today, Europe/London)")
    providers.add_column("provider")
    providers.add_column("complete", justify="right")
    providers.add_column("open", justify="right")
    for provider_id, complete, open_ in summary.per_provider:
        providers.add_row(provider_id, str(complete), str(open_))
    console.print(providers)


def _replay_alerts_and_kpis(settings: Settings, day: date, played: list[PlayedAnomaly]) -> None:
    """Drive the visits role's alert evaluator with a simulated clock through the morning, as
    `ecm visits run` would have run it live, then build the day's visits and print what was
    detected and the KPIs."""
    from core.db import make_engine
    from visits.alerts import evaluate
    from visits.builder import build_day
    from visits.days import day_start
    from visits.kpis import council_kpis

    engine = make_engine(settings, "demo", pool_size=1)
    try:
        console.print("\n[bold]Live alerts[/] (simulated clock, evaluated every 5 minutes)")
        clock = datetime.combine(day, MORNING_FROM, LONDON)
        last_seen = 0
        raised = cleared = escalated = 0
        end = datetime.combine(day, MORNING_TO, LONDON)
        cutoff = datetime.combine(day, time_of(settings.visits_missed_cutoff), LONDON)
        moments = []
        while clock <= end:
            moments.append(clock)
            clock += ALERT_STEP
        # The missed deadline of a home's last visit is the daily cut-off (23:00 by default).
        moments.append(cutoff + timedelta(minutes=1))
        for moment in moments:
            with engine.begin() as conn:
                evaluate(conn, settings, now=moment)
                rows = demo_store.notifications_after(conn, last_seen)
            for row in rows:
                last_seen = row.id
                if row.action == "cleared":
                    cleared += 1
                    continue
                # An escalation is the same alert sent on to the council, not a new one.
                if row.action == "escalated":
                    escalated += 1
                else:
                    raised += 1
                planned = row.planned_start.astimezone(LONDON).strftime("%H:%M")
                console.print(
                    f"  {moment.astimezone(LONDON):%H:%M} alert {row.action}: {row.kind:<6} "
                    f"{row.visit_ref} ({row.provider_id}, home {row.service_user_id}, "
                    f"planned {planned})"
                )
        console.print(
            f"alerts: {raised} raised, {cleared} cleared when the carer arrived, "
            f"{escalated} escalated to the council"
        )

        with engine.begin() as conn:
            built = build_day(conn, settings, day, now=day_start(day + timedelta(days=1)))
            console.print(
                f"visits built: {built.visits} visits, {built.missed} missed, "
                f"{built.anomalies} anomalies flagged"
            )
            console.print(_anomalies_table(conn, played))
            kpis = council_kpis(conn, DEMO_COUNCIL, day, day)
        console.print(_kpi_table(kpis, day))
    finally:
        engine.dispose()


MORNING_FROM = dt_time(6, 30)
MORNING_TO = dt_time(13, 0)


def time_of(hh_mm: str) -> dt_time:
    hours, minutes = hh_mm.split(":")
    return dt_time(int(hours), int(minutes))


def _anomalies_table(conn: Connection, played: list[PlayedAnomaly]) -> Table:
    """Each anomaly played, and what the system made of it: ingest's quarantine reason, the
    visit's status and the anomaly codes flagged on it."""
    table = Table(title="Anomalies played and detected")
    for column in ("anomaly", "visit", "carer", "what was played", "detected"):
        table.add_column(column)
    for p in played:
        found: list[str] = []
        reasons = demo_store.quarantine_reasons(conn, p.event_ids)
        found += [f"quarantined {reason} x{count}" for reason, count in reasons]
        late = demo_store.late_arriving(conn, p.event_ids)
        if late and p.kind == "no_signal":
            found.append(f"stored late-arriving x{late}")
        visit = demo_store.visit_of_played(conn, p.visit_ref, p.event_ids)
        if visit is not None:
            visit_id, status = visit
            found.append(f"visit {status}")
            found += demo_store.anomaly_codes(conn, visit_id, p.carer_id)
        table.add_row(p.kind, p.visit_ref, p.carer_id, p.detail, ", ".join(found) or "-")
    return table


def _kpi_table(kpis: list[ProviderKpis], day: date) -> Table:
    table = Table(title=f"KPIs per provider, {day.isoformat()} (council {DEMO_COUNCIL})")
    for column in (
        "provider",
        "planned",
        "on time ≤15",
        "on time ≤30",
        "minutes delivered / planned",
        "missed",
        "tag or code verified",
    ):
        table.add_column(column, justify="left" if column == "provider" else "right")
    for k in kpis:
        table.add_row(
            k.provider_id,
            str(k.planned),
            _percent(k.on_time_15_share),
            _percent(k.on_time_30_share),
            f"{k.delivered_planned_minutes} / {k.planned_minutes} "
            f"({_percent(k.planned_minutes_delivered_share)})",
            str(k.missed),
            _percent(k.tag_or_code_verified_share),
        )
    return table


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def _print_telephony_and_carer_days(
    settings: Settings, api_url: str, summary: MorningSummary, day: date
) -> None:
    from core.db import make_engine
    from ecm import demo_telephony

    engine = make_engine(settings, "demo", pool_size=1)
    try:
        with engine.connect() as conn:
            landline_events, landline_visits = demo_store.landline_counts(conn)
    finally:
        engine.dispose()
    console.print(demo_telephony.calls_table(summary.phone_log, landline_events, landline_visits))
    providers = [provider_id for provider_id, _, _ in summary.per_provider]
    console.print(demo_telephony.carer_day_table(api_url, summary.auth, providers, day))
    console.print(
        "Pay as each provider declared it; the floor is the National Living Wage for contact "
        "plus travel time (docs/carer-day.md). Portal: Carers' days (providers), Carers' pay "
        "(council)."
    )


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _wait_for_interrupt() -> None:
    try:
        signal.pause()
    except KeyboardInterrupt:
        console.print("stopping")
