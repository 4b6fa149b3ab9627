"""`ecm visits ...` (the builder, alert and webhook role) and `ecm schedule import FILE`."""

from __future__ import annotations

import getpass
import logging
import signal
import sys
import threading
from datetime import date
from pathlib import Path
from types import FrameType

import click
from rich.console import Console
from rich.table import Table

from core.settings import get_settings

log = logging.getLogger("ecm.visits")


@click.group()
def visits() -> None:
    """Visits built from evidence, live alerts and webhook deliveries."""


@visits.command("run")
@click.option("--once", is_flag=True, help="One build, alert and delivery pass, then exit.")
def run(once: bool) -> None:
    """Rebuild changed visits every few seconds, evaluate alerts every ~15 s, and deliver
    webhooks, until SIGTERM or Ctrl-C."""
    from visits.worker import VisitsWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker = VisitsWorker(get_settings())
    try:
        if once:
            worker.tick(force=True)
        else:
            worker.run(stop)
    finally:
        worker.close()


@visits.command("build")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
def build(day: object) -> None:
    """Rebuild every visit of one London day (YYYY-MM-DD) from the evidence."""
    from datetime import datetime

    from core.db import make_engine
    from visits.builder import build_day

    assert isinstance(day, datetime)
    engine = make_engine(get_settings(), "visits", pool_size=1)
    with engine.begin() as conn:
        report = build_day(conn, get_settings(), date(day.year, day.month, day.day))
    click.echo(
        f"{report.keys} homes rebuilt: {report.visits} visits, {report.missed} missed, "
        f"{report.anomalies} anomalies"
    )


@visits.command("export")
@click.argument("kind", type=click.Choice(["actuals", "schedule"]))
@click.option("--from", "first", required=True, type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--to", "last", required=True, type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--provider", default=None, help="One provider only.")
def export(kind: str, first: object, last: object, provider: str | None) -> None:
    """Write actuals.csv or schedule.csv (the reconciliation formats) for London days
    [--from, --to] to standard output."""
    from datetime import datetime

    from core.db import make_engine
    from visits.export import actuals_csv, schedule_csv

    assert isinstance(first, datetime) and isinstance(last, datetime)
    engine = make_engine(get_settings(), "visits", pool_size=1)
    write = actuals_csv if kind == "actuals" else schedule_csv
    with engine.begin() as conn:
        if kind == "actuals":
            from visits.builder import refresh

            refresh(conn, get_settings())
        click.echo(write(conn, first.date(), last.date(), provider_id=provider), nl=False)


@click.group()
def schedule() -> None:
    """Planned visits from the council's case system."""


@schedule.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def schedule_import(path: Path) -> None:
    """Import schedule.csv (docs/visits.md): bad rows are listed with their line numbers and
    the rest is imported; exit status 1 when any row was rejected."""
    from core.db import make_engine
    from visits.schedule import ScheduleFileError, import_schedule

    engine = make_engine(get_settings(), "schedule", pool_size=1)
    console = Console()
    try:
        with engine.begin() as conn:
            report = import_schedule(
                conn,
                path.read_text(encoding="utf-8"),
                source=str(path),
                imported_by=f"cli:{getpass.getuser()}",
            )
    except ScheduleFileError as exc:
        console.print(f"[red]{path}: {exc}; nothing imported[/red]")
        sys.exit(2)
    table = Table(title=f"schedule import {report.import_id}: {path.name}")
    for column in ("rows", "created", "changed", "cancelled", "unchanged", "rejected"):
        table.add_column(column, justify="right")
    table.add_row(
        *map(
            str,
            (
                report.rows_read,
                report.created,
                report.changed,
                report.cancelled,
                report.unchanged,
                report.rejected,
            ),
        )
    )
    console.print(table)
    for error in report.errors:
        console.print(f"{path}:{error.line}: {error.visit_ref or '-'}: {error.reason}")
    if report.errors:
        sys.exit(1)
