"""`ecm`: one entry point for every process role (ecm services, ecm migrate, ecm ingest, ...).

Role commands live in the package that owns them and are imported only when invoked, so
`ecm services up` does not pay for importing FastAPI.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import TYPE_CHECKING

import click

from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from firmware_sim.options import SimOptions

# name -> "module:attribute" of a click command owned by that role's package.
ROLE_COMMANDS = {
    "ingest": "ingest.cli:command",
    "api": "api.cli:command",
    "sim": "firmware_sim.cli:command",
    "demo": "ecm.demo:command",
    "protocol": "gateway.cli:protocol",
    "registry": "gateway.cli:registry",
    "homes": "gateway.homes.cli:homes",
    "tag": "gateway.homes.cli:tag",
    "reconcile": "reconciliation.cli:command",
    "devices": "gateway.pki.cli:devices",
    "pki": "gateway.pki.cli:pki",
    "users": "api.auth.cli:users",
    "audit": "api.audit.cli:audit",
    "visits": "visits.cli:visits",
    "schedule": "visits.cli:schedule",
    "retention": "ecm.governance:retention",
    "subject-access": "ecm.governance:subject_access",
    "housekeeping": "ecm.housekeeping:housekeeping",
    "telephony": "gateway.telephony.cli:telephony",
    "requests": "commissioning.cli:requests",
}


class RoleGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *ROLE_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in ROLE_COMMANDS:
            module_name, attribute = ROLE_COMMANDS[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module_name), attribute)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=RoleGroup)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Electronic Call Monitoring for home care."""
    if ctx.invoked_subcommand == "sim":
        # The simulator is a device: it gets its own options, translated here from the
        # server's settings (the local stack's broker and certificate folder).
        ctx.obj = sim_options(get_settings())


def sim_options(settings: Settings) -> SimOptions:
    from firmware_sim.options import SimOptions

    return SimOptions(
        mqtt_host=settings.mqtt_host,
        mqtt_port=settings.mqtt_port,
        state_dir=settings.state_dir,
        ca_file=settings.mqtt_ca_file,
        # The NATS cluster refuses MQTT 5; its other nodes are where a handset goes next.
        mqtt_version="3.1.1" if settings.broker == "nats" else "5",
        other_ports=tuple(int(p) for p in settings.mqtt_cluster_ports.split(",") if p.strip()),
    )


@cli.group()
def services() -> None:
    """The private PostgreSQL and Mosquitto under the state folder."""


@services.command("up")
def services_up() -> None:
    """Start both servers on free loopback ports (idempotent) and record their addresses."""
    from ecm import services as stack

    settings = get_settings()
    endpoints = stack.up(settings.state_dir)
    click.echo(json.dumps(endpoints.as_env(), indent=2))


@services.command("down")
def services_down() -> None:
    """Stop the servers `ecm services up` started."""
    from ecm import services as stack

    stack.down(get_settings().state_dir)
    click.echo("stopped")


@services.command("status")
def services_status() -> None:
    """Print where the servers listen, or exit 1 when they are not running."""
    from ecm import services as stack

    endpoints = stack.status(get_settings().state_dir)
    if endpoints is None:
        click.echo("not running")
        sys.exit(1)
    click.echo(json.dumps(endpoints.as_env(), indent=2))


@cli.group()
def cluster() -> None:
    """The clustered stack: three NATS JetStream nodes, a PostgreSQL primary and its standby."""


@cluster.command("up")
def cluster_up() -> None:
    """Start the cluster on free loopback ports (idempotent) and record its addresses."""
    from ecm.services import cluster as stack

    endpoints = stack.up(get_settings().state_dir)
    click.echo(json.dumps(endpoints.as_env(), indent=2))


@cluster.command("down")
def cluster_down() -> None:
    """Stop the servers `ecm cluster up` started."""
    from ecm.services import cluster as stack

    stack.down(get_settings().state_dir)
    click.echo("stopped")


@cluster.command("status")
def cluster_status() -> None:
    """Print where the cluster listens and who leads what, or exit 1 when it is not running."""
    from ecm.services import cluster as stack

    state_dir = get_settings().state_dir
    endpoints = stack.status(state_dir)
    if endpoints is None:
        click.echo("not running")
        sys.exit(1)
    click.echo(json.dumps(endpoints.as_env(), indent=2))
    from gateway import jetstream
    from gateway.pki.identity import service_identity

    tls = service_identity(endpoints.settings(state_dir), "admin").ssl_context()
    try:
        view = jetstream.run(jetstream.cluster_view(endpoints.nats_urls, tls))
    except Exception as exc:  # any failure to reach the cluster is the answer here
        click.echo(f"the NATS nodes run but do not answer: {exc!r}")
        sys.exit(1)
    click.echo(
        f"events stream leader {view.stream_leader}, replicas {', '.join(view.stream_replicas)}; "
        f"ingest consumer leader {view.consumer_leader}, {view.pending} waiting for ingest, "
        f"{view.ack_pending} taken and not yet committed"
    )


@cluster.command("node")
@click.option("--name", required=True, help="This node's name, e.g. nats-1 (unique).")
@click.option("--route", "routes", multiple=True, help="A peer's route address host:port.")
@click.option("--bind", default="0.0.0.0", show_default=True)
@click.option("--client-port", default=4222, show_default=True)
@click.option("--cluster-port", default=6222, show_default=True)
@click.option("--mqtt-port", default=8883, show_default=True)
@click.option("--monitor-port", default=8222, show_default=True)
def cluster_node(
    name: str,
    routes: tuple[str, ...],
    bind: str,
    client_port: int,
    cluster_port: int,
    mqtt_port: int,
    monitor_port: int,
) -> None:
    """Run one NATS node of a cluster spread over hosts (docs/scaling.md, "Across hosts").

    Writes the node's configuration from the gateway PKI under the state folder and replaces
    this process with nats-server.
    """
    import os

    from ecm.services.nats import binary, node_conf_for_host

    conf = node_conf_for_host(
        get_settings().state_dir,
        name,
        list(routes),
        bind=bind,
        client_port=client_port,
        cluster_port=cluster_port,
        mqtt_port=mqtt_port,
        monitor_port=monitor_port,
    )
    server = binary()
    os.execv(server, [server, "-c", str(conf)])


@cluster.command("streams")
def cluster_streams() -> None:
    """Make the MQTT layer's streams and ingest's consumer on the cluster (ECM_NATS_URLS,
    ECM_MQTT_HOST/PORT), as svc:admin, before any handset publishes; idempotent."""
    from gateway import jetstream

    settings = get_settings()
    urls = [url.strip() for url in settings.nats_urls.split(",") if url.strip()]
    jetstream.prepare_events(settings, urls, settings.mqtt_port)
    click.echo(f"events stream and ingest consumer ready on {len(urls)} node(s)")


@cluster.command("reload")
@click.option("--node", "nodes", multiple=True, help="Only these nodes (default: all here).")
def cluster_reload(nodes: tuple[str, ...]) -> None:
    """Make the NATS nodes running here re-read the user list (after `ecm pki sync`)."""
    from gateway.pki.nats_access import NatsAccess, nats_root

    root = nats_root(get_settings().state_dir)
    pid_files = [root / n / "nats.pid" for n in nodes] or sorted(root.glob("*/nats.pid"))
    reloaded = NatsAccess(root, pid_files).reload()
    click.echo(f"{reloaded} node(s) reloaded")


@cluster.command("promote")
def cluster_promote() -> None:
    """Make the standby PostgreSQL the writable server (after the primary is lost)."""
    from ecm.services import cluster as stack

    stack.promote(get_settings().state_dir)
    click.echo("standby promoted: clients with target_session_attrs=read-write move to it")


@cli.command()
@click.option("--revision", default="head", show_default=True)
def migrate(revision: str) -> None:
    """Apply the database migrations."""
    from core.db import wait_for_database
    from core.migrate import upgrade

    settings = get_settings()
    wait_for_database(settings)
    upgrade(settings, revision)
    click.echo(f"database at {revision}")


def main() -> None:
    cli()
