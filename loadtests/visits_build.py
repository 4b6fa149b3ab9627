"""Benchmark: the visit builder, alert evaluation and KPIs on a county-sized care day.

Starts its own PostgreSQL (and Mosquitto, unused) in a temporary state folder, imports a
schedule, stores signed events through ingest's own COPY path, then times a full build, an
incremental pass, alert evaluation and a KPI query. Prints a table and writes
loadtests/results/visits_build.json. Not a test: figures vary by machine.

    .venv/bin/python loadtests/visits_build.py [--homes 2500] [--visits-per-home 4] [--carers 700]
"""

from __future__ import annotations

import argparse
import heapq
import json
import platform
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.progress import track
from rich.table import Table
from sqlalchemy import text

from core.db import connect, make_engine
from core.migrate import upgrade
from core.settings import Settings
from ecm.services import running
from gateway.protocol import EventClaims, EventType, events_topic, sign_compact
from gateway.registry import RegistryDocument, seed
from ingest.store import store_batch
from ingest.verify import Evidence, ReceivedMessage, VerifiedEvent
from tests.support.world import World
from visits import alerts, builder, kpis
from visits.days import day_start
from visits.schedule import import_schedule

RESULTS = Path(__file__).parent / "results" / "visits_build.json"
DAY = date(2026, 3, 10)
PROVIDERS = 5


def _world(homes: int, carers: int) -> tuple[RegistryDocument, dict[str, Ed25519PrivateKey]]:
    rng = random.Random(1)
    world = World()
    world.council("LA1", name="Bench County")
    for p in range(PROVIDERS):
        world.provider(f"P{p}", name=f"Provider {p}", council_id="LA1", lot=f"lot{p % 2}")
    keys = {}
    for i in range(carers):
        handset = world.handset(
            f"P{i % PROVIDERS}", carer_id=f"C{i:05d}", device_id=f"D{i:05d}", carer_name="Carer"
        )
        keys[handset.device_id] = handset.key
    for h in range(homes):
        world.home(
            f"SU{h:05d}",
            council_id="LA1",
            name="Person",
            lat=52.4 + rng.random() * 0.4,
            lon=0.9 + rng.random() * 0.6,
        )
    return world.document(), keys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--homes", type=int, default=2500)
    parser.add_argument("--visits-per-home", type=int, default=4)
    parser.add_argument("--carers", type=int, default=700)
    args = parser.parse_args()
    console = Console()
    rng = random.Random(2026)
    figures: dict[str, float | int | str] = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "homes": args.homes,
        "carers": args.carers,
    }
    with (
        tempfile.TemporaryDirectory(prefix="ecm-visits-bench-") as state,
        running(Path(state)) as endpoints,
    ):
        settings = Settings(env="test", database_url=endpoints.database_url)
        upgrade(settings)
        engine = make_engine(settings, "bench")
        document, keys = _world(args.homes, args.carers)
        with engine.begin() as conn:
            seed(conn, document)

        # The schedule: visits spread over the day, each home's visits at least an hour apart.
        rows = [
            "visit_ref,service_user_ref,provider_ref,planned_start,planned_minutes,"
            "carers_required,service_type"
        ]
        plans: list[tuple[str, int, datetime, int]] = []
        for h in range(args.homes):
            for v in range(args.visits_per_home):
                start = day_start(DAY) + timedelta(hours=7 + 3.5 * v, minutes=rng.randrange(150))
                minutes = rng.choice([15, 30, 45, 60])
                plans.append((f"V{h:05d}-{v}", h, start, minutes))
                rows.append(
                    f"V{h:05d}-{v},SU{h:05d},P{h % PROVIDERS},{start.isoformat()},{minutes},1,"
                    "personal"
                )
        started = time.perf_counter()
        with engine.begin() as conn:
            report = import_schedule(conn, "\n".join(rows), source="bench", imported_by="bench")
        figures["planned_visits"] = report.created
        figures["schedule_import_s"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        with engine.begin() as conn:
            again = import_schedule(conn, "\n".join(rows), source="bench", imported_by="bench")
        figures["schedule_reimport_s"] = round(time.perf_counter() - started, 3)
        assert again.unchanged == report.created

        # Evidence: 92% complete, 3% open, 5% missed. Each provider's carers work a rota: a
        # visit goes to the carer free longest (ten minutes' travel after their last visit).
        seq: dict[str, int] = {}
        batch: list[VerifiedEvent] = []
        held_back: list[VerifiedEvent] = []
        per_provider = args.carers // PROVIDERS
        free_at: dict[int, list[tuple[datetime, int]]] = {
            p: [(day_start(DAY), p + PROVIDERS * i) for i in range(per_provider)]
            for p in range(PROVIDERS)
        }

        def event(carer: int, h: int, kind: EventType, at: datetime) -> VerifiedEvent:
            device_id = f"D{carer:05d}"
            seq[device_id] = seq.get(device_id, 0) + 1
            claims = EventClaims.build(
                event_id=uuid.uuid4(),
                device_id=device_id,
                carer_id=f"C{carer:05d}",
                seq=seq[device_id],
                type=kind,
                device_time=at,
                service_user_id=f"SU{h:05d}",
            )
            token = sign_compact(claims.to_json(), keys[device_id], kid=device_id)
            message = ReceivedMessage(0, events_topic(device_id), token.encode(), at)
            return VerifiedEvent(message, claims, f"P{h % PROVIDERS}", Evidence(level="tag"))

        for _, h, start, minutes in track(
            sorted(plans, key=lambda p: p[2]), description="signing events"
        ):
            roll = rng.random()
            if roll < 0.05:
                continue
            queue = free_at[h % PROVIDERS]
            free, carer = heapq.heappop(queue)
            check_in = max(start + timedelta(minutes=rng.randrange(-5, 20)), free)
            check_out = check_in + timedelta(minutes=minutes)
            heapq.heappush(queue, (check_out + timedelta(minutes=10), carer))
            batch.append(event(carer, h, EventType.CHECK_IN, check_in))
            ending = event(carer, h, EventType.CHECK_OUT, check_out)
            (held_back if roll < 0.08 else batch).append(ending)
        with connect(settings, "bench") as pg:
            for i in range(0, len(batch), 5000):
                with pg.transaction():
                    store_batch(pg, batch[i : i + 5000], [])
        figures["events"] = len(batch)
        with engine.begin() as conn:
            conn.execute(text("analyze"))

        after_day = day_start(DAY + timedelta(days=1)) + timedelta(hours=1)
        started = time.perf_counter()
        with engine.begin() as conn:
            full = builder.refresh(conn, settings, after_day)
        figures["full_build_s"] = round(time.perf_counter() - started, 3)
        figures["visits_built"] = full.visits
        figures["anomalies_flagged"] = full.anomalies
        figures["missed_built"] = full.missed
        figures["visits_per_s_full_build"] = round(
            (full.visits + full.missed) / figures["full_build_s"]  # type: ignore[operator]
        )

        with engine.begin() as conn:
            # What autovacuum does minutes after a first build; measure the steady state.
            conn.execute(text("analyze"))
        # The held-back check-outs arrive: an incremental pass rebuilds only their homes.
        with connect(settings, "bench") as pg, pg.transaction():
            store_batch(pg, held_back, [])
        started = time.perf_counter()
        with engine.begin() as conn:
            incremental = builder.refresh(conn, settings, after_day)
        figures["incremental_events"] = len(held_back)
        figures["incremental_home_days"] = incremental.keys
        figures["incremental_build_s"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        with engine.begin() as conn:
            idle = builder.refresh(conn, settings, after_day)
        figures["idle_pass_s"] = round(time.perf_counter() - started, 3)
        figures["idle_pass_home_days"] = idle.keys

        midday = day_start(DAY) + timedelta(hours=13)
        started = time.perf_counter()
        with engine.begin() as conn:
            raised = alerts.evaluate(conn, settings, midday)
        figures["alert_evaluation_s"] = round(time.perf_counter() - started, 3)
        figures["alerts_raised"] = raised.raised
        started = time.perf_counter()
        with engine.begin() as conn:
            alerts.evaluate(conn, settings, midday + timedelta(seconds=15))
        figures["alert_re_evaluation_s"] = round(time.perf_counter() - started, 3)

        started = time.perf_counter()
        with engine.begin() as conn:
            found = kpis.council_kpis(conn, "LA1", DAY, DAY)
        figures["kpi_query_s"] = round(time.perf_counter() - started, 3)
        figures["kpi_rows"] = len(found)
        with engine.connect() as conn:
            for code, count in conn.execute(
                text("select code, count(*) from visit_anomaly group by 1 order by 1")
            ):
                figures[f"anomaly_{code}"] = count
        engine.dispose()

    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    table = Table(title="visits: build, alerts, KPIs")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, str(value))
    console.print(table)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    console.print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
