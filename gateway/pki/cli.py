"""`ecm pki` (the CA and the broker's identities) and `ecm devices` (handset certificates)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection

from core.settings import get_settings
from gateway.broker import render_dynsec_config
from gateway.pki.authority import IssuedCertificate, PkiError, generate_password, write_secret
from gateway.pki.broker import BrokerAccessError
from gateway.pki.devices import DeviceCertificateError, DeviceCertificates, list_certificates
from gateway.pki.layout import SERVICES, initialise, pki_layout


@contextmanager
def _transaction() -> Iterator[Connection]:
    from core.db import make_engine

    engine = make_engine(get_settings(), "pki")
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


@contextmanager
def _reported() -> Iterator[None]:
    try:
        yield
    except (DeviceCertificateError, PkiError, BrokerAccessError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group(name="pki")
def pki() -> None:
    """The gateway's certificate authority and the broker's identities."""


@pki.command("init")
@click.option(
    "--server-name",
    "server_names",
    multiple=True,
    help="Host name handsets use for the broker (repeatable); localhost is always included.",
)
def pki_init(server_names: tuple[str, ...]) -> None:
    """Create the CA, the broker's server certificate, service identities and an empty CRL.

    Idempotent: existing files are kept. Files go to <state>/pki (ECM_STATE_DIR).
    """
    settings = get_settings()
    layout = pki_layout(settings.state_dir)
    extra = [n.strip() for n in settings.mqtt_server_names.split(",") if n.strip()]
    with _reported():
        initialise(layout, settings.master_key, [*server_names, *extra], SERVICES)
    # The broker's starting access rules. Once it runs, the plugin owns the file (it saves every
    # change), so an existing file is kept.
    broker_dir = settings.state_dir / "mqtt"
    (broker_dir / "data").mkdir(parents=True, exist_ok=True)
    dynsec_file = broker_dir / "dynamic-security.json"
    if not dynsec_file.exists():
        dynsec_file.write_text(render_dynsec_config(SERVICES, []))
    click.echo(f"CA and identities in {layout.root}; broker access rules in {dynsec_file}")
    for name in SERVICES:
        cert_file, key_file = layout.service_cert(name)
        click.echo(f"  svc:{name}: {cert_file} {key_file}")


@pki.command("sync")
def pki_sync() -> None:
    """Make the running broker agree with the registry: CRL reloaded, devices allowed/refused."""
    with _reported(), _transaction() as conn:
        allowed, refused = DeviceCertificates(get_settings()).sync(conn)
    click.echo(f"broker in line with the registry: {allowed} devices allowed, {refused} refused")


@click.group(name="devices")
def devices() -> None:
    """Handset certificates: provision, re-issue, revoke, list."""


def _deliver(
    device_id: str,
    issued: IssuedCertificate,
    certificates: DeviceCertificates,
    out: Path | None,
    local: bool,
    password: str | None,
) -> None:
    if local:
        issued.write(*certificates.layout.device_cert(device_id))
    if out is not None:
        ca = certificates.authority()
        out.mkdir(parents=True, exist_ok=True)
        issued.write(out / f"{device_id}.pem", out / f"{device_id}.key")
        (out / "ca.pem").write_text(ca.cert_pem)
        secret = password or generate_password()
        write_secret(out / f"{device_id}.p12", issued.pkcs12(secret, ca.certificate))
        if password is None:
            # Printed once, never stored: the .p12 is useless without it.
            click.echo(f"{device_id}: PKCS#12 password {secret}", err=True)
    click.echo(f"{device_id}: serial {issued.serial}, valid until {issued.not_after:%Y-%m-%d}")


_OUT = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write <id>.pem, <id>.key, <id>.p12 and ca.pem here.",
)
_LOCAL = click.option(
    "--local",
    is_flag=True,
    help="Also keep cert and key under <state>/pki/devices, where `ecm sim run` looks.",
)
_PASSWORD = click.option(
    "--password", default=None, help="PKCS#12 password (default: generated and printed once)."
)


def _require_destination(out: Path | None, local: bool) -> None:
    if out is None and not local:
        raise click.UsageError("say where the private key goes: --out DIR and/or --local")


@devices.command("provision")
@click.argument("device_ids", nargs=-1, required=True)
@_OUT
@_LOCAL
@_PASSWORD
def provision(
    device_ids: tuple[str, ...], out: Path | None, local: bool, password: str | None
) -> None:
    """Issue the first certificate of each device (already in the registry)."""
    _require_destination(out, local)
    certificates = DeviceCertificates(get_settings())
    with _reported(), _transaction() as conn:
        issued = certificates.provision_many(conn, list(device_ids))
    for device_id, certificate in issued.items():
        _deliver(device_id, certificate, certificates, out, local, password)


@devices.command("reissue")
@click.argument("device_id")
@_OUT
@_LOCAL
@_PASSWORD
def reissue(device_id: str, out: Path | None, local: bool, password: str | None) -> None:
    """A new certificate for the device; the old one is revoked and its session dropped."""
    _require_destination(out, local)
    certificates = DeviceCertificates(get_settings())
    with _reported(), _transaction() as conn:
        issued = certificates.reissue(conn, device_id)
    _deliver(device_id, issued, certificates, out, local, password)


@devices.command("revoke")
@click.argument("device_id")
@click.option("--reason", default="revoked", show_default=True, help="e.g. lost, stolen.")
def revoke(device_id: str, reason: str) -> None:
    """Revoke the device's certificates, mark it revoked, and disconnect it from the broker."""
    with _reported(), _transaction() as conn:
        count = DeviceCertificates(get_settings()).revoke(conn, device_id, reason)
    click.echo(f"{device_id}: {count} certificate(s) revoked; device status revoked")


@devices.command("list")
@click.argument("device_id")
def list_(device_id: str) -> None:
    """The device's certificates, newest last."""
    with _transaction() as conn:
        records = list_certificates(conn, device_id)
    if not records:
        click.echo(f"{device_id}: no certificates", err=True)
        sys.exit(1)
    table = Table(title=f"Certificates of {device_id}")
    for column in ("serial", "issued", "expires", "retires", "revoked", "reason", "live"):
        table.add_column(column)
    for r in records:
        table.add_row(
            str(r.serial),
            f"{r.issued_at:%Y-%m-%d %H:%M}",
            f"{r.not_after:%Y-%m-%d}",
            f"{r.retires_at:%Y-%m-%d %H:%M}" if r.retires_at else "",
            f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "",
            r.reason or "",
            "yes" if r.live else "no",
        )
    Console().print(table)


@devices.command("rotate")
@click.argument("device_ids", nargs=-1)
@click.option(
    "--due",
    is_flag=True,
    help="Every active device whose certificate expires within ECM_CERTIFICATE_WARNING_DAYS.",
)
@click.option(
    "--overlap-days",
    type=click.IntRange(0, 365),
    default=None,
    help="How long the current certificate stays valid [default: "
    "ECM_CERTIFICATE_ROTATION_OVERLAP_DAYS].",
)
@_OUT
@_LOCAL
@_PASSWORD
def rotate(
    device_ids: tuple[str, ...],
    due: bool,
    overlap_days: int | None,
    out: Path | None,
    local: bool,
    password: str | None,
) -> None:
    """A new certificate before the current one expires; the current one stays valid for the
    overlap, so the handset keeps its connection and moves over when it next reconnects."""
    from datetime import UTC, datetime

    from gateway.pki import rotation

    _require_destination(out, local)
    if bool(device_ids) == due:
        raise click.UsageError("name the devices, or give --due (not both)")
    settings = get_settings()
    certificates = DeviceCertificates(settings)
    overlap = settings.certificate_rotation_overlap_days if overlap_days is None else overlap_days
    now = datetime.now(UTC)
    issued: dict[str, IssuedCertificate] = {}
    with _reported(), _transaction() as conn:
        ids = list(device_ids) or [
            e.device_id for e in rotation.expiring(conn, now, settings.certificate_warning_days)
        ]
        for device_id in ids:
            issued[device_id] = rotation.rotate(conn, certificates, device_id, now, overlap)
    for device_id, certificate in issued.items():
        _deliver(device_id, certificate, certificates, out, local, password)
    if not issued:
        click.echo("no certificate is due for rotation")


@devices.command("expiring")
@click.option(
    "--days",
    type=int,
    default=None,
    help="Window to look in [default: ECM_CERTIFICATE_WARNING_DAYS].",
)
def expiring(days: int | None) -> None:
    """Current certificates that expire within the window, soonest first; exit 1 if any."""
    from datetime import UTC, datetime

    from gateway.pki import rotation

    settings = get_settings()
    window = settings.certificate_warning_days if days is None else days
    with _transaction() as conn:
        found = rotation.expiring(conn, datetime.now(UTC), window)
    table = Table(title=f"Certificates expiring within {window} days")
    for column in ("device", "serial", "expires"):
        table.add_column(column)
    for item in found:
        table.add_row(item.device_id, str(item.serial), f"{item.not_after:%Y-%m-%d %H:%M}")
    Console().print(table)
    if found:
        sys.exit(1)


@devices.command("retire-rotated")
def retire_rotated() -> None:
    """Revoke the previous certificates of rotations whose overlap has ended (the housekeeping
    role does this hourly)."""
    from datetime import UTC, datetime

    from gateway.pki import rotation

    with _reported(), _transaction() as conn:
        retired = rotation.retire_rotated(
            conn, DeviceCertificates(get_settings()), datetime.now(UTC)
        )
    for device_id, serial in retired:
        click.echo(f"{device_id}: serial {serial} revoked (rotation overlap ended)")
    if not retired:
        click.echo("no rotation overlap has ended")
