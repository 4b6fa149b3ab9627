"""Benchmark: a month of a large county reconciled by `ecm reconcile`.

Generates (seeded) about 5,300 service users with 106 providers at roughly 44,500 hours a week
for March 2026 (31 days, the spring clock change included): about 650,000 planned visits,
actual rows (double-handed visits have two) and invoice lines, one invoice file per provider.
The CSVs go to .state/reconcile-bench/ (not git). Then it runs the command as a subprocess and
writes wall time, lines/s and the command's peak memory (getrusage of children) to
loadtests/results/reconcile.json, and prints a table. Not a test: figures vary by machine.

    .venv/bin/python loadtests/reconcile_bench.py [--people 5300] [--seed 2026]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import track
from rich.table import Table

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "reconcile.json"
LONDON = ZoneInfo("Europe/London")
RATE = Decimal("24.12")
PROVIDERS = 106
MONTH_START, DAYS = date(2026, 3, 1), 31
# Local start times of the day's rounds; people get 3-5 of them (4 on average).
ROUNDS = ["07:30", "09:00", "12:00", "17:00", "20:30"]
ROUNDS_PER_PERSON = [(3, 0.25), (4, 0.5), (5, 0.25)]
# Short visits dominate in home care; this mix averages about 17 minutes, which with 4 visits a
# day for 5,300 people (5% double-handed) gives about 44,500 carer-hours a week.
DURATIONS = [(15, 0.87), (30, 0.11), (45, 0.015), (60, 0.005)]
DOUBLE_HANDED = 0.05
NOT_DELIVERED = 0.02
VERIFICATION = [("tag", 0.92), ("code", 0.03), ("location", 0.02), ("manual", 0.03)]
DUPLICATED_LINES = 0.002
NOT_INVOICED = 0.003  # delivered, never billed: the unbilled report
UNCOMMISSIONED_LINES = 0.001  # a line for someone the provider does not serve


def _pick(rng: random.Random, weighted: Sequence[tuple[T, float]]) -> T:
    return rng.choices([value for value, _ in weighted], [weight for _, weight in weighted])[0]


def _utc(day: date, clock: str) -> datetime:
    hour, minute = int(clock[:2]), int(clock[3:])
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON).astimezone(UTC)


def generate(folder: Path, people: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    provider_of = [f"P{rng.randrange(PROVIDERS) + 1:03d}" for _ in range(people)]
    refs = [f"P{p + 1:03d}" for p in range(PROVIDERS)]
    carers_of = {ref: [f"{ref}-C{c:03d}" for c in range(40)] for ref in refs}
    plan = []
    for _ in range(people):
        rounds = sorted(rng.sample(ROUNDS, _pick(rng, ROUNDS_PER_PERSON)))
        lengths = [_pick(rng, DURATIONS) for _ in rounds]
        pairs = [rng.random() < DOUBLE_HANDED for _ in rounds]
        plan.append(list(zip(rounds, lengths, pairs, strict=True)))

    contract = ["[rules]", "weekend_uplift = 1.0", ""]
    for p in range(PROVIDERS):
        contract += [
            "[[provider]]",
            f'ref = "P{p + 1:03d}"',
            f"rate_per_hour = {RATE}",
            f'lot = "Lot {p % 6 + 1}"',
            "",
        ]
    (folder / "contract.toml").write_text("\n".join(contract))

    schedule = (folder / "schedule.csv").open("w")
    actuals = (folder / "actuals.csv").open("w")
    invoices = {ref: (folder / f"invoice-{ref}.csv").open("w") for ref in carers_of}
    schedule.write(
        "visit_ref,service_user_ref,provider_ref,planned_start,planned_minutes,"
        "carers_required,service_type\n"
    )
    actuals.write("service_user_ref,provider_ref,carer_ref,check_in,check_out,verification\n")
    for handle in invoices.values():
        handle.write(
            "invoice_ref,line_no,provider_ref,service_user_ref,visit_date,start,end,"
            "minutes_claimed,carers,amount_claimed\n"
        )
    line_no: Counter[str] = Counter()
    visits = 0
    planned_minutes_total = 0
    for offset in track(range(DAYS), description="generating the month"):
        day = MONTH_START + timedelta(days=offset)
        starts = {clock: _utc(day, clock) for clock in ROUNDS}
        for person in range(people):
            su, provider = f"SU{person:05d}", provider_of[person]
            for clock, minutes, double in plan[person]:
                visits += 1
                planned_minutes_total += minutes * (2 if double else 1)
                carers = 2 if double else 1
                start = starts[clock]
                schedule.write(
                    f"V{visits:07d},{su},{provider},{start.isoformat()},{minutes},"
                    f"{carers},personal_care\n"
                )
                if rng.random() >= NOT_DELIVERED:
                    for carer in rng.sample(carers_of[provider], carers):
                        check_in = start + timedelta(seconds=rng.randint(-300, 600))
                        stay = timedelta(seconds=minutes * 60 + rng.randint(-360, 240))
                        level = _pick(rng, VERIFICATION)
                        actuals.write(
                            f"{su},{provider},{carer},{check_in.isoformat()},"
                            f"{(check_in + stay).isoformat()},{level}\n"
                        )
                end_minute = int(clock[:2]) * 60 + int(clock[3:]) + minutes
                end = f"{end_minute // 60:02d}:{end_minute % 60:02d}"
                amount = (Decimal(minutes * carers) * RATE / 60).quantize(
                    Decimal("0.01"), ROUND_HALF_UP
                )
                chance = rng.random()
                copies = 0 if chance < NOT_INVOICED else 2 if chance > 1 - DUPLICATED_LINES else 1
                for _ in range(copies):
                    line_no[provider] += 1
                    invoices[provider].write(
                        f"INV-{provider}-2026-03,{line_no[provider]},{provider},{su},{day},"
                        f"{clock},{end},{minutes},{carers},{amount}\n"
                    )
                if rng.random() < UNCOMMISSIONED_LINES:
                    line_no[provider] += 1
                    stranger = f"SU{rng.randrange(people):05d}"
                    invoices[provider].write(
                        f"INV-{provider}-2026-03,{line_no[provider]},{provider},{stranger},{day},"
                        f"{clock},{end},{minutes},{carers},{amount}\n"
                    )
    for handle in (schedule, actuals, *invoices.values()):
        handle.close()
    return {
        "planned_visits": visits,
        "invoice_lines": sum(line_no.values()),
        "planned_carer_hours_per_week": round(planned_minutes_total / 60 / DAYS * 7),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=5_300)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--folder", type=Path, default=ROOT / ".state" / "reconcile-bench")
    args = parser.parse_args()
    console = Console()
    shutil.rmtree(args.folder, ignore_errors=True)
    generated = generate(args.folder, args.people, args.seed)
    invoice_files = sorted(args.folder.glob("invoice-*.csv"))
    ecm = Path(sys.executable).parent / "ecm"
    command = [
        str(ecm),
        "reconcile",
        "--contract",
        str(args.folder / "contract.toml"),
        "--schedule",
        str(args.folder / "schedule.csv"),
        "--actuals",
        str(args.folder / "actuals.csv"),
        "--out",
        str(args.folder / "report.csv"),
        "--invoices",
        *map(str, invoice_files),
    ]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall_s = time.perf_counter() - started
    # ru_maxrss is in KiB on Linux: the largest child, which is the command.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with (args.folder / "report.csv").open(newline="") as handle:
        outcomes = Counter(row["outcome"] for row in csv.DictReader(handle))

    def data_rows(name: str) -> int:
        with (args.folder / name).open() as handle:
            return sum(1 for _ in handle) - 1

    actual_rows = data_rows("actuals.csv")
    lines = sum(outcomes.values())
    figures = {
        "people": args.people,
        "providers": PROVIDERS,
        "days": DAYS,
        **generated,
        "actual_rows": actual_rows,
        "invoice_files": len(invoice_files),
        "wall_s": round(wall_s, 2),
        "lines_per_s": round(lines / wall_s),
        "peak_rss_mb": round(peak_mb),
        "outcomes": dict(sorted(outcomes.items())),
        "unbilled_visits": data_rows("report.unbilled.csv"),
        "uncommissioned_lines": data_rows("report.uncommissioned.csv"),
        "load_average_before": round(load_before, 2),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": args.seed,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    table = Table(title="ecm reconcile: a month of a large county")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in (
        "planned_visits",
        "actual_rows",
        "invoice_lines",
        "invoice_files",
        "planned_carer_hours_per_week",
        "wall_s",
        "lines_per_s",
        "peak_rss_mb",
    ):
        table.add_row(key, f"{figures[key]:,}")
    console.print(table)
    console.print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
