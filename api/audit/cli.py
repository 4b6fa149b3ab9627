"""`ecm audit verify`: walk the audit trail's hash chain and name the first broken entry."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import click
from rich.progress import Progress

from core.settings import get_settings


@click.group("audit")
def audit() -> None:
    """The append-only, hash-chained audit trail."""


@audit.command("verify")
def verify() -> None:
    """Check every entry's link and hash; exit 1 naming the first broken entry."""
    from api.audit import chain
    from core.db import make_engine

    engine = make_engine(get_settings(), "audit", pool_size=1)
    try:
        with engine.connect() as conn:
            total = chain.count(conn)
            with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
                task = progress.add_task("verifying the audit chain", total=total)

                def tick() -> Iterator[None]:
                    while True:
                        progress.advance(task)
                        yield None

                result = chain.verify(conn, tick())
    finally:
        engine.dispose()
    if result.first_break is None:
        click.echo(f"audit chain intact: {result.entries} entries")
        return
    click.echo(
        f"audit chain broken at entry {result.first_break.entry_id}: "
        f"{result.first_break.reason} ({result.entries} entries before it are intact)"
    )
    sys.exit(1)
