"""`ecm requests ...`: the commissioning role (offers expire and cascade, packages roll forward,
webhooks go out), and the case system's files from the command line."""

from __future__ import annotations

import getpass
import logging
import signal
import sys
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType

import click
from rich.console import Console
from rich.table import Table

from core.settings import get_settings

DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.group()
def requests() -> None:
    """Service requests: offers down each lot's cascade, packages, exchange files."""


@requests.command("run")
@click.option("--once", is_flag=True, help="One pass, then exit.")
def run(once: bool) -> None:
    """Expire offers past their deadline and offer the next providers, roll packages' planned
    visits forward, and deliver request webhooks, every ECM_REQUESTS_INTERVAL_S (15 s), until
    SIGTERM or Ctrl-C."""
    from commissioning.worker import RequestsWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker = RequestsWorker(get_settings())
    try:
        if once:
            worker.tick()
        else:
            worker.run(stop)
    finally:
        worker.close()


@requests.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--council", "council_id", required=True, help="The importing council's id.")
def import_file(path: Path, council_id: str) -> None:
    """Import requests.csv (docs/service-requests.md) and offer each new request; bad rows are
    listed as FILE:LINE: request_ref: reason. Exit 1 when any row was rejected, 2 when the file
    was refused whole."""
    from commissioning.access import operator
    from commissioning.exchange import import_requests
    from core.db import make_engine
    from core.errors import DomainError

    engine = make_engine(get_settings(), "requests", pool_size=1)
    console = Console()
    try:
        with engine.begin() as conn:
            report = import_requests(
                conn,
                operator(f"cli:{getpass.getuser()}"),
                path.read_text(encoding="utf-8"),
                source=str(path),
                council_id=council_id,
                now=datetime.now(UTC),
            )
    except DomainError as exc:
        console.print(f"[red]{path}: {exc.message}; nothing imported[/red]")
        sys.exit(2)
    finally:
        engine.dispose()
    table = Table(title=f"request import {report.import_id}: {path.name}")
    for column in ("rows", "requests created", "unchanged", "rows rejected"):
        table.add_column(column, justify="right")
    table.add_row(*map(str, (report.rows_read, report.created, report.unchanged, report.rejected)))
    console.print(table)
    for error in report.errors:
        # One line per bad row, never wrapped: editors and scripts read FILE:LINE.
        click.echo(f"{path}:{error.line}: {error.request_ref or '-'}: {error.reason}")
    if report.errors:
        sys.exit(1)


@requests.command("export")
@click.argument("kind", type=click.Choice(["decisions", "packages", "monitoring"]))
@click.option("--council", "council_id", required=True)
@click.option("--from", "first", required=True, type=DAY)
@click.option("--to", "last", required=True, type=DAY)
@click.option("--unplaced-after-days", default=7, show_default=True, type=click.IntRange(1, 365))
def export(
    kind: str, council_id: str, first: datetime, last: datetime, unplaced_after_days: int
) -> None:
    """Write decisions.csv, packages.csv or monitoring.csv for London days [--from, --to] to
    standard output."""
    from commissioning.access import operator
    from commissioning.exchange import decisions_csv, packages_csv
    from commissioning.reports import monitoring, monitoring_csv
    from core.db import make_engine
    from core.errors import DomainError

    caller = operator(f"cli:{getpass.getuser()}")
    period: tuple[date, date] = (first.date(), last.date())
    engine = make_engine(get_settings(), "requests", pool_size=1)
    try:
        with engine.begin() as conn:
            if kind == "decisions":
                out = decisions_csv(
                    conn, caller, council_id=council_id, first=period[0], last=period[1]
                )
            elif kind == "packages":
                out = packages_csv(
                    conn, caller, council_id=council_id, first=period[0], last=period[1]
                )
            else:
                report = monitoring(
                    conn,
                    caller,
                    council_id,
                    *period,
                    unplaced_after_days=unplaced_after_days,
                    now=datetime.now(UTC),
                )
                out = monitoring_csv(report)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        engine.dispose()
    click.echo(out, nl=False)
