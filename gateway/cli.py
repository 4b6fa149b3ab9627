"""`ecm registry ...` and `ecm protocol ...`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from core.settings import get_settings


@click.group()
def registry() -> None:
    """Providers, carers, devices and service users."""


@registry.command("seed")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def registry_seed(path: Path) -> None:
    """Upsert the records of a registry JSON file (see docs/registry.md)."""
    from core.db import make_engine
    from gateway.registry import load_document, seed

    engine = make_engine(get_settings(), "registry", pool_size=1)
    with engine.begin() as conn:
        counts = seed(conn, load_document(path))
    click.echo(counts.model_dump_json())


@click.group()
def protocol() -> None:
    """Wire protocol helpers."""


@protocol.command("example")
def protocol_example() -> None:
    """Print the worked example of docs/protocol.md, signed with the RFC 8037 test key."""
    from gateway.protocol.example import worked_example

    click.echo(json.dumps(worked_example(), indent=2))
