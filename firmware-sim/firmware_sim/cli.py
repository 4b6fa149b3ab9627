"""`ecm sim`: generate a simulated world, export its registry, and run its morning."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from uuid import UUID

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from firmware_sim.anomalies import AnomalyKind, parse_kinds
from firmware_sim.morning import MorningResult, simulate_morning
from firmware_sim.options import SimOptions
from firmware_sim.outbox import Outbox
from firmware_sim.publisher import Uplink
from firmware_sim.world import LONDON, World, generate_world


@click.group(name="sim")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Simulated carer handsets publishing signed visit events."""
    # The broker's address and the certificates' folder: given by `ecm sim` from the local
    # stack (ecm/cli.py), else the defaults of a local stack.
    ctx.ensure_object(SimOptions)


@command.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("world.json"),
    show_default=True,
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--providers", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--carers", type=click.IntRange(min=1), default=15, show_default=True)
@click.option("--service-users", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--visits", type=click.IntRange(min=0), default=200, show_default=True)
@click.option(
    "--day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The morning to plan, YYYY-MM-DD (default: today in Europe/London).",
)
@click.option("--id-prefix", default="", help="Prefix for every id, to keep worlds apart.")
def generate(
    out: Path,
    seed: int,
    providers: int,
    carers: int,
    service_users: int,
    visits: int,
    day: datetime | None,
    id_prefix: str,
) -> None:
    """Generate a world (with the handsets' private keys) and write it as JSON."""
    morning: date = day.date() if day else datetime.now(LONDON).date()
    try:
        world = generate_world(
            seed,
            providers=providers,
            carers=carers,
            service_users=service_users,
            visits=visits,
            day=morning,
            id_prefix=id_prefix,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    world.save(out)
    click.echo(
        f"{out}: {len(world.providers)} providers, {len(world.carers)} carers, "
        f"{len(world.service_users)} service users, {len(world.visits)} visits on {morning}",
        err=True,
    )


@command.command()
@click.argument("world_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here instead of stdout.",
)
def registry(world_file: Path, out: Path | None) -> None:
    """Print the world's registry seed document: public keys only."""
    document = World.load(world_file).registry_document().model_dump_json(indent=2)
    if out is None:
        click.echo(document)
    else:
        out.write_text(document + "\n")


@command.command("home-devices")
@click.argument("world_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here instead of stdout.",
)
def home_devices(world_file: Path, out: Path | None) -> None:
    """Print the programming sheet of the world's home tags and fobs, secrets included, for
    `ecm homes import`."""
    document = World.load(world_file).home_devices_document().model_dump_json(indent=2)
    if out is None:
        click.echo(document)
    else:
        out.write_text(document + "\n")


@command.command()
@click.argument("world_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--tampered",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also publish this many copies of real events with a broken signature.",
)
@click.option("--late-share", type=click.FloatRange(0, 1), default=0.1, show_default=True)
@click.option("--dead-phone-share", type=click.FloatRange(0, 1), default=0.03, show_default=True)
@click.option(
    "--anomaly",
    "anomalies",
    multiple=True,
    type=click.Choice([k.value for k in AnomalyKind]),
    help="Play this anomaly on a few visits (repeatable; docs/simulator.md).",
)
@click.option("--seed", type=int, default=None, help="Repeat who is late and whose phone dies.")
@click.option(
    "--outbox",
    "outbox_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The handsets' outbox (SQLite) [default: <state dir>/sim/outbox.sqlite].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the broker's acknowledgements.",
)
@click.option(
    "--show-feedback",
    is_flag=True,
    help="Print what each carer's handset shows per event as its receipt arrives.",
)
@click.option(
    "--mqtt-version",
    type=click.Choice(["5", "3.1.1"]),
    default=None,
    help="MQTT version the handsets speak [default: 3.1.1 on the NATS cluster, else 5].",
)
def run(
    world_file: Path,
    tampered: int,
    late_share: float,
    dead_phone_share: float,
    anomalies: tuple[str, ...],
    seed: int | None,
    outbox_path: Path | None,
    timeout: float,
    show_feedback: bool,
    mqtt_version: str | None,
) -> None:
    """Publish the world's morning to the broker (ECM_MQTT_HOST / ECM_MQTT_PORT).

    Each handset connects with its own certificate from <state>/pki/devices, as left there by
    `ecm devices provision --local DEVICE...` after the world's registry was seeded.

    Events still in the outbox from an earlier run (no receipt then) are published again
    first; sequence numbers continue from the outbox, so a second run is not a replay. Each
    event leaves the outbox when ingest's receipt names it (protocol v1.1); what the carers
    were shown is printed at the end.
    """
    world = World.load(world_file)
    options = click.get_current_context().find_object(SimOptions) or SimOptions()
    console = Console(stderr=True)
    identities = {d.id: options.identity(d.id) for d in world.registry_document().devices}
    missing = sorted(d for d, identity in identities.items() if not identity.cert_file.exists())
    if missing:
        shown = " ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise click.ClickException(
            f"{len(missing)} handsets have no certificate; seed the registry, then run "
            f"`ecm devices provision --local {shown}`"
        )
    outbox = Outbox(outbox_path or options.default_outbox)
    with (
        Uplink(
            options.mqtt_host,
            options.mqtt_port,
            device_identity=identities.__getitem__,
            outbox=outbox,
            mqtt_version=mqtt_version or options.mqtt_version,
            other_ports=options.other_ports,
            on_feedback=(lambda event_id, words: click.echo(f"{event_id}  {words}"))
            if show_feedback
            else None,
        ) as uplink,
        Progress(
            TextColumn("[bold]publishing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        resent = uplink.resend_outbox()
        if resent:
            console.print(f"resent {resent} events left in the outbox by an earlier run")
        task = progress.add_task("publishing", total=None)

        def on_progress(sent: int, total: int) -> None:
            progress.update(task, completed=sent, total=total)

        result = simulate_morning(
            world,
            uplink,
            late_share=late_share,
            dead_phone_share=dead_phone_share,
            tampered=tampered,
            anomalies=parse_kinds(anomalies),
            on_progress=on_progress,
            seed=seed,
            flush_timeout=timeout,
        )
        receipted_all = uplink.wait_receipted(timeout)
        feedback = feedback_counts(uplink.feedback)
        waiting = uplink.awaiting_receipt
    Console().print(result_table(result))
    Console().print(feedback_table(feedback))
    if not receipted_all:
        click.echo(
            f"{waiting} events still wait for their receipt: kept in the outbox, sent again "
            "on the next run",
            err=True,
        )
    if result.anomalies:
        Console().print(anomalies_table(result))
    if not result.all_acked:
        click.echo("the broker did not acknowledge every event", err=True)
        sys.exit(1)


def result_table(result: MorningResult) -> Table:
    table = Table(title="Simulated morning")
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_row("visits planned", str(result.visits_planned))
    table.add_row("events sent", str(result.events_sent))
    table.add_row("tampered sent", str(result.tampered_sent))
    table.add_row("acknowledged", str(result.events_acked))
    table.add_row("carer-visits expected complete", str(result.expected_complete))
    table.add_row("carer-visits expected open", str(result.expected_open))
    return table


def feedback_counts(feedback: dict[UUID, str]) -> dict[str, int]:
    """How many events showed the carer each message."""
    shown: dict[str, int] = {}
    for words in feedback.values():
        shown[words] = shown.get(words, 0) + 1
    return shown


def feedback_table(shown: dict[str, int]) -> Table:
    table = Table(title="What the carers were shown (receipts)")
    table.add_column("message")
    table.add_column("events", justify="right")
    for words, count in sorted(shown.items(), key=lambda item: -item[1]):
        table.add_row(words, str(count))
    return table


def anomalies_table(result: MorningResult) -> Table:
    table = Table(title="Anomalies played")
    for column in ("anomaly", "visit", "carer", "handset", "events", "what"):
        table.add_column(column)
    for played in result.anomalies:
        table.add_row(
            played.kind.value,
            played.visit_ref,
            played.carer_id,
            played.device_id or "-",
            str(len(played.event_ids)),
            played.detail,
        )
    return table
