"""`ecm reconcile`: invoices against verified visits and the contract, to report.csv.

Next to the report (report.csv here) it writes report.unbilled.csv (verified visits in the period
nobody invoiced), report.uncommissioned.csv (lines for service users the provider has no planned
visit for) and report.problems.csv (bad input rows with file, line and reason). Same inputs, same
bytes out. Exit 0 when the run completed (even with bad rows), 2 when an input is unusable.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from reconciliation.contract import ContractError
from reconciliation.contract_toml import read_contract
from reconciliation.engine import reconcile
from reconciliation.formats import (
    Problem,
    UnusableInput,
    count_rows,
    read_actuals,
    read_invoice,
    read_schedule,
    write_problems,
    write_report,
    write_unbilled,
    write_uncommissioned,
)
from reconciliation.records import InvoiceLine, Outcome
from reconciliation.summary import Summary, Totals, summarize

UNUSABLE = 2
SHOWN_PROBLEMS = 20


def companion(out: Path, kind: str) -> Path:
    """report.csv -> report.<kind>.csv, next to it."""
    return out.with_name(f"{out.stem}.{kind}.csv")


def _task(progress: Progress, label: str, path: Path) -> Callable[[int], None]:
    task = progress.add_task(label, total=count_rows(path))

    def advance(rows: int) -> None:
        progress.advance(task, rows)

    return advance


@click.command("reconcile")
@click.option("--contract", "contract_path", type=click.Path(path_type=Path), required=True)
@click.option("--schedule", "schedule_path", type=click.Path(path_type=Path), required=True)
@click.option("--actuals", "actuals_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--invoices",
    "invoice_paths",
    type=click.Path(path_type=Path),
    multiple=True,
    required=True,
    help="One or more invoice files, in the order their lines are taken.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="report.csv to write")
@click.argument("more_invoices", nargs=-1, type=click.Path(path_type=Path))
def command(
    contract_path: Path,
    schedule_path: Path,
    actuals_path: Path,
    invoice_paths: tuple[Path, ...],
    out: Path,
    more_invoices: tuple[Path, ...],
) -> None:
    """Reconcile invoice lines against verified visits and contract rules.

    Usage: --invoices a.csv b.csv ... (files after --invoices are taken in the order given).
    """
    if len(invoice_paths) > 1 and more_invoices:
        raise click.UsageError("list invoice files after one --invoices, or repeat --invoices")
    invoices = [*invoice_paths, *more_invoices]
    console = Console()
    if not console.is_terminal:  # wide enough for the summary tables in logs and pipes
        console = Console(width=160)
    # A month is millions of small acyclic records: the cycle collector would rescan them again
    # and again while they load, for nothing to free. Reference counting still frees them.
    gc.disable()
    try:
        summary = _run(console, contract_path, schedule_path, actuals_path, invoices, out)
    except (UnusableInput, ContractError) as error:
        messages = error.messages if isinstance(error, UnusableInput) else [str(error)]
        for message in messages:
            console.print(f"[red]unusable input:[/red] {message}", highlight=False)
        sys.exit(UNUSABLE)
    finally:
        gc.enable()
    _print_summary(console, summary)


def _run(
    console: Console,
    contract_path: Path,
    schedule_path: Path,
    actuals_path: Path,
    invoice_paths: list[Path],
    out: Path,
) -> Summary:
    inputs = [contract_path, schedule_path, actuals_path, *invoice_paths]
    missing = [f"{path}: cannot read (no such file)" for path in inputs if not path.is_file()]
    if missing:
        raise UnusableInput(missing)
    contract = read_contract(contract_path)
    problems: list[Problem] = []
    lines: list[InvoiceLine] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        schedule = read_schedule(schedule_path, _task(progress, "schedule", schedule_path))
        actuals = read_actuals(actuals_path, _task(progress, "actuals", actuals_path))
        problems += schedule.problems + actuals.problems
        for path in invoice_paths:
            loaded = read_invoice(path, _task(progress, f"invoice {path.name}", path))
            file_problems = list(loaded.problems)
            # A line of a provider the contract does not price cannot be reconciled: reported.
            for line, line_no in zip(loaded.records, loaded.lines, strict=True):
                if line.provider_ref in contract.providers:
                    lines.append(line)
                else:
                    file_problems.append(
                        Problem(str(path), line_no, f"provider {line.provider_ref} not in contract")
                    )
            problems += sorted(file_problems, key=lambda problem: problem.line)
        task = progress.add_task("reconcile", total=len(lines))
        result = reconcile(
            contract,
            schedule.records,
            actuals.records,
            lines,
            progress=lambda done: progress.advance(task, done),
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_report(out, result.lines)
    write_unbilled(companion(out, "unbilled"), actuals.records, result.unbilled)
    write_uncommissioned(companion(out, "uncommissioned"), result.lines)
    write_problems(companion(out, "problems"), problems)
    _print_problems(console, problems, out)
    console.print(
        f"report: {out} ({len(result.lines):,} lines); unbilled visits: "
        f"{len(result.unbilled):,}; period: "
        + (f"{result.period.start} to {result.period.end}" if result.period else "none"),
        highlight=False,
    )
    return summarize(result, contract, actuals.records)


def _print_problems(console: Console, problems: list[Problem], out: Path) -> None:
    if not problems:
        return
    table = Table(title=f"{len(problems):,} bad input rows (all in {companion(out, 'problems')})")
    for column in ("file", "line", "reason"):
        table.add_column(column)
    for problem in problems[:SHOWN_PROBLEMS]:
        table.add_row(problem.file, str(problem.line), problem.reason)
    console.print(table)


def _print_summary(console: Console, summary: Summary) -> None:
    _totals_table(console, "Reconciliation", {"all": summary.overall})
    _totals_table(console, "Per provider", summary.providers)
    _totals_table(console, "Per lot", summary.lots)


def _totals_table(console: Console, title: str, rows: dict[str, Totals]) -> None:
    table = Table(title=title)
    table.add_column("")
    for column in ("lines", "claimed", "payable", "variance", "block"):
        table.add_column(column, justify="right")
    for outcome in Outcome:
        table.add_column(outcome.value, justify="right")
    table.add_column("unbilled visits", justify="right")
    table.add_column("uncommissioned", justify="right")
    for name, totals in rows.items():
        table.add_row(
            name,
            f"{totals.lines:,}",
            f"{totals.claimed:,.2f}",
            f"{totals.payable:,.2f}",
            f"{totals.variance:,.2f}",
            f"{totals.block:,.2f}",
            *(f"{totals.outcomes[outcome]:,}" for outcome in Outcome),
            f"{totals.unbilled_visits:,}",
            f"{totals.uncommissioned_lines:,}",
        )
    console.print(table)
