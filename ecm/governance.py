"""`ecm retention` and `ecm subject-access`: the retention run (with its dry run), councils'
retention policies, and one person's data exported or erased (docs/retention.md).

They live in the composition root because they join the retention package with the audit trail
(api.audit), which retention itself does not import."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from retention.service import Action


@contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    from core.db import make_engine

    engine = make_engine(settings, "retention", pool_size=1)
    try:
        yield engine
    finally:
        engine.dispose()


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.group("retention")
def retention() -> None:
    """Retention policies per council and the run that applies them."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Report what is due; change nothing.")
@click.option(
    "--as-of",
    default=None,
    help="With --dry-run: what would be due at this ISO 8601 time instead of now.",
)
def run(dry_run: bool, as_of: str | None) -> None:
    """Remove or pseudonymise what each council's policy says is due, audited; or report it."""
    from api.audit.trail import SystemAuditTrail
    from retention import runner
    from retention.service import ACTOR

    if as_of is not None and not dry_run:
        raise click.UsageError("--as-of is for a dry run only")
    settings = get_settings()
    now = _moment(as_of) if as_of else datetime.now(UTC)
    console = Console()
    with _engine(settings) as engine:
        if dry_run:
            planned = runner.dry_run(engine, now)
            console.print(plan_table(planned.actions, f"Due at {now:%Y-%m-%d %H:%M} UTC (dry run)"))
            return

        def show(action: Action) -> None:
            console.print(f"{action.kind} {action.target}: {action.rows} rows", highlight=False)

        done = runner.run(engine, now, SystemAuditTrail(settings, ACTOR), progress=show)
    console.print(plan_table(done.plan.actions, f"Retention run {done.run_id}"))


def plan_table(actions: Sequence[Action], title: str) -> Table:
    table = Table(title=title)
    for column in ("what", "target", "council", "rows", "detail"):
        table.add_column(column, overflow="fold")
    for action in actions:
        detail = {
            key: value.strftime("%Y-%m-%d") if isinstance(value, datetime) else value
            for key, value in action.detail.items()
        }
        table.add_row(
            action.kind,
            action.target,
            action.council_id or "",
            str(action.rows),
            json.dumps(detail, default=str, sort_keys=True),
        )
    if not actions:
        table.add_row("nothing due", "", "", "0", "")
    return table


@retention.group("policy")
def policy() -> None:
    """A council's retention periods (defaults in docs/retention.md)."""


@policy.command("show")
@click.argument("council_id")
def policy_show(council_id: str) -> None:
    from retention import repository, service

    with _engine(get_settings()) as engine, engine.connect() as conn:
        if not repository.council_exists(conn, council_id):
            raise click.ClickException(f"no council {council_id}")
        click.echo(service.policy_of(conn, council_id).model_dump_json(indent=2))


@policy.command("set")
@click.argument("council_id")
@click.option("--care-records-years", type=int, default=None)
@click.option("--registry-personal-data-years", type=int, default=None)
@click.option("--quarantine-raw-days", type=int, default=None)
@click.option("--audit-years", type=int, default=None)
@click.option("--login-attempt-days", type=int, default=None)
def policy_set(council_id: str, **periods: int | None) -> None:
    """Change some of a council's periods; the others keep their current values."""
    from pydantic import ValidationError

    from api.audit.chain import append_system, cli_actor
    from retention import repository, service
    from retention.policy import RetentionPolicy

    settings = get_settings()
    with _engine(settings) as engine, engine.begin() as conn:
        if not repository.council_exists(conn, council_id):
            raise click.ClickException(f"no council {council_id}")
        current = service.policy_of(conn, council_id)
        changes = {key: value for key, value in periods.items() if value is not None}
        try:
            updated = RetentionPolicy(**{**current.model_dump(), **changes})
        except ValidationError as exc:
            raise click.ClickException(str(exc)) from exc
        service.set_policy(conn, council_id, updated, cli_actor(), datetime.now(UTC))
        append_system(
            conn,
            actor=cli_actor(),
            method="PUT",
            path=f"/councils/{council_id}/retention-policy",
            tenant=council_id,
        )
    click.echo(updated.model_dump_json(indent=2))


@click.group("subject-access")
def subject_access() -> None:
    """One service user's data: export it (subject access request) or erase it."""


@subject_access.command("export")
@click.argument("service_user_id")
@click.option("--format", "format_", type=click.Choice(["json", "csv"]), default="json")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write: JSON, or a zip of CSV files.",
)
def export(service_user_id: str, format_: str, out: Path) -> None:
    """Every record about the person (registry, planned and actual visits, evidence events,
    corrections, alerts, reconciliation lines, accesses), audited as a read."""
    from api.audit.chain import cli_actor
    from api.audit.trail import SystemAuditTrail
    from retention import subject

    settings = get_settings()
    with _engine(settings) as engine, engine.begin() as conn:
        try:
            council_id = subject.require_subject(conn, service_user_id)
            found = subject.export(conn, service_user_id, datetime.now(UTC))
        except subject.SubjectNotFound as exc:
            raise click.ClickException(str(exc)) from exc
        SystemAuditTrail(settings, cli_actor()).read(
            conn,
            path=f"/service-users/{service_user_id}/subject-access",
            query=f"format={format_}",
            tenant=council_id,
        )
    if format_ == "json":
        out.write_text(found.to_json(), encoding="utf-8")
    else:
        out.write_bytes(found.to_csv_zip())
    counts = ", ".join(f"{name} {count}" for name, count in found.counts().items() if count)
    click.echo(f"{out}: {counts or 'no records'}")


@subject_access.command("erase")
@click.argument("service_user_id")
def erase(service_user_id: str) -> None:
    """Pseudonymise the person's registry entry now and delete the care records no retention
    rule still requires; print what was done and what is kept until when."""
    from api.audit.chain import append_system, cli_actor
    from retention import subject

    settings = get_settings()
    with _engine(settings) as engine, engine.begin() as conn:
        try:
            council_id = subject.require_subject(conn, service_user_id)
            report = subject.erase(conn, service_user_id, cli_actor(), datetime.now(UTC))
        except (subject.SubjectNotFound, subject.CareOngoing) as exc:
            raise click.ClickException(str(exc)) from exc
        append_system(
            conn,
            actor=cli_actor(),
            method="ERASE",
            path=f"/service-users/{service_user_id}/erasure",
            query=f"request={report['id']}",
            tenant=council_id,
        )
    json.dump(report, sys.stdout, indent=2, sort_keys=True)
    click.echo()
