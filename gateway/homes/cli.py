"""`ecm homes ...` (provision tags and fobs) and `ecm tag verify` (check one tap by hand)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

from core.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from gateway.evidence.keys import KeyRing

T = TypeVar("T")


@click.group()
def homes() -> None:
    """Evidence devices in service users' homes: SUN tags and one-time-code fobs."""


@homes.command("provision-tag")
@click.option("--service-user", "service_user_id", required=True)
@click.option("--uid", default=None, help="The tag's 7-byte UID as hex, read off the tag.")
def provision_tag(service_user_id: str, uid: str | None) -> None:
    """Generate the tag's keys, store them sealed, print what is programmed into the tag.

    The keys are printed this once; the database keeps them only encrypted.
    """
    from gateway.homes import new_tag, store_tag

    tag = _valid(lambda: new_tag(service_user_id, uid))
    _in_transaction(lambda conn, ring: store_tag(conn, ring, tag))
    click.echo(tag.model_dump_json(indent=2))


@homes.command("provision-code")
@click.option("--service-user", "service_user_id", required=True)
@click.option("--digits", type=click.IntRange(6, 10), default=8, show_default=True)
@click.option("--step", "step_s", type=click.IntRange(1, 300), default=30, show_default=True)
def provision_code(service_user_id: str, digits: int, step_s: int) -> None:
    """Generate a TOTP fob secret, store it sealed, print it (with an otpauth URI) once."""
    from gateway.homes import new_fob, otpauth_uri, store_fob

    fob = new_fob(service_user_id, digits, step_s)
    _in_transaction(lambda conn, ring: store_fob(conn, ring, fob))
    click.echo(json.dumps({**fob.model_dump(), "otpauth_uri": otpauth_uri(fob)}, indent=2))


@homes.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_file(path: Path) -> None:
    """Store the tags and fobs of a programming sheet (JSON, see docs/evidence.md), sealed."""
    from gateway.homes import HomeDevicesDocument, import_devices

    document = _valid(lambda: HomeDevicesDocument.model_validate_json(path.read_text()))
    counts = _in_transaction(lambda conn, ring: import_devices(conn, ring, document))
    click.echo(json.dumps({"tags": counts.tags, "fobs": counts.fobs}))


@homes.command("rotate-master-key")
@click.option(
    "--old-key-env",
    default="ECM_OLD_MASTER_KEY",
    show_default=True,
    help="Environment variable holding the previous master key (never a flag: shell history).",
)
def rotate(old_key_env: str) -> None:
    """Re-wrap every home secret's data key, and the telephony bridges' signing keys, from the
    old master key to ECM_MASTER_KEY."""
    from gateway.evidence.keys import KeyRing
    from gateway.homes import rotate_master_key
    from gateway.telephony import bridges

    old_key = os.environ.get(old_key_env)
    if not old_key:
        raise click.ClickException(f"{old_key_env} is not set")
    old = KeyRing(old_key)

    def _rotate(conn: Connection, ring: KeyRing) -> tuple[int, int, int]:
        counts = rotate_master_key(conn, old, ring)
        return counts.tags, counts.fobs, bridges.rotate_master_key(conn, old, ring)

    tags, fobs, bridge_keys = _in_transaction(_rotate)
    click.echo(json.dumps({"tags": tags, "fobs": fobs, "telephony_keys": bridge_keys}))


@click.group()
def tag() -> None:
    """NTAG 424 DNA Secure Unique NFC taps."""


@tag.command("verify")
@click.option("--key", default=None, help="One AES key (hex) used as meta-read and file-read key.")
@click.option("--meta-key", default=None, help="SDM meta-read key (hex), if not --key.")
@click.option("--file-key", default=None, help="SDM file-read key (hex), if not --key.")
@click.option("--picc", required=True, help="The encrypted PICCData from the URL (32 hex).")
@click.option("--mac", required=True, help="The SDMMAC from the URL (16 hex).")
def tag_verify(
    key: str | None, meta_key: str | None, file_key: str | None, picc: str, mac: str
) -> None:
    """Decrypt and authenticate one tap; print {"uid", "counter"} or why not (exit 1)."""
    from gateway.evidence import sun

    meta_hex, file_hex = meta_key or key, file_key or key
    if meta_hex is None or file_hex is None:
        _fail("give --key, or both --meta-key and --file-key")
    try:
        message = sun.SunMessage(_hex("--picc", picc), _hex("--mac", mac))
        tap = sun.verify(_hex("meta key", meta_hex), _hex("file key", file_hex), message)
    except sun.SunError as exc:
        _fail(f"{exc.reason}: {exc.detail}")
    click.echo(json.dumps({"uid": tap.uid_hex, "counter": tap.counter}))


def _hex(name: str, value: str) -> bytes:
    from gateway.evidence.sun import SunError

    try:
        return bytes.fromhex(value)
    except ValueError:
        raise SunError("bad_hex", f"{name} is not hex") from None


def _fail(message: str) -> NoReturn:
    click.echo(json.dumps({"error": message}))
    sys.exit(1)


def _valid(make: Callable[[], T]) -> T:
    from pydantic import ValidationError

    try:
        return make()
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from None


def _in_transaction(work: Callable[[Connection, KeyRing], T]) -> T:
    from core.db import make_engine
    from gateway.evidence.keys import KeyRing
    from gateway.homes import HomeDeviceError

    settings = get_settings()
    engine = make_engine(settings, "homes", pool_size=1)
    try:
        with engine.begin() as conn:
            return work(conn, KeyRing(settings.master_key))
    except HomeDeviceError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
