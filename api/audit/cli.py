"""`ecm audit verify` and `ecm audit checkpoint`: check the audit trail's hash chain against its
signed checkpoints, and sign its head now."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import click
from rich.progress import Progress

from core.settings import get_settings


@click.group("audit")
def audit() -> None:
    """The append-only, hash-chained audit trail and its signed checkpoints."""


@audit.command("verify")
def verify() -> None:
    """Check every entry's link and hash, and the chain against every signed checkpoint; exit 1
    naming the first broken entry (or the entries cut from the end)."""
    from api.audit import chain, checkpoints
    from core.db import make_engine

    settings = get_settings()
    engine = make_engine(settings, "audit", pool_size=1)
    try:
        with engine.connect() as conn:
            loaded = checkpoints.load(settings, conn)
            total = chain.count(conn)
            with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
                task = progress.add_task("verifying the audit chain", total=total)

                def tick() -> Iterator[None]:
                    while True:
                        progress.advance(task)
                        yield None

                result = chain.verify(conn, tick(), loaded.valid)
    finally:
        engine.dispose()
    for checkpoint in loaded.invalid:
        click.echo(
            f"checkpoint of {checkpoint.at_text} ({checkpoint.entries} entries) has no valid "
            f"signature under the keys in {checkpoints.key_dir(settings)}: forged or damaged"
        )
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if result.first_break is None and not loaded.invalid:
        start = f" from entry {result.first_id}" if result.first_id > 1 else ""
        click.echo(
            f"audit chain intact: {result.entries} entries{start}, "
            f"{len(loaded.valid)} signed checkpoints"
        )
        return
    if result.first_break is not None:
        click.echo(
            f"audit chain broken at entry {result.first_break.entry_id}: "
            f"{result.first_break.reason} ({result.entries} entries before it are intact)"
        )
    sys.exit(1)


@audit.command("checkpoint")
def checkpoint() -> None:
    """Sign the chain's head now (entry count and hash) with the audit key, in the database and
    in <key dir>/checkpoints.jsonl; prints it as one JSON line to keep elsewhere as well."""
    from api.audit import checkpoints
    from core.db import make_engine

    settings = get_settings()
    engine = make_engine(settings, "audit", pool_size=1)
    try:
        with engine.begin() as conn:
            written = checkpoints.write_head(settings, conn)
    except checkpoints.CheckpointError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(written.to_json())
