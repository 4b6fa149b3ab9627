"""`ecm telephony ...`: the webhook role, and registering what telephone check-in needs."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from typing import TypeVar

import click
from sqlalchemy import Connection

from core.settings import get_settings

T = TypeVar("T")


@click.group()
def telephony() -> None:
    """Telephone check-in from the home's landline (docs/telephony.md)."""


@telephony.command("serve")
@click.option("--host", default=None, help="Listen address [default: ECM_TELEPHONY_HOST]")
@click.option("--port", type=int, default=None, help="Listen port [default: ECM_TELEPHONY_PORT]")
def serve(host: str | None, port: int | None) -> None:
    """Serve the telephony provider's voice webhook and publish the calls' events."""
    import uvicorn

    from core import logs
    from core.db import wait_for_database
    from gateway.telephony.webhook import TelephonyConfigError, create_app

    logs.setup("telephony")
    settings = get_settings()
    wait_for_database(settings)
    try:
        app = create_app(settings)
    except TelephonyConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    uvicorn.run(
        app,
        host=host or settings.telephony_host,
        port=port or settings.telephony_port,
        timeout_keep_alive=75,
        log_config=None,
    )


@telephony.command("provision")
@click.argument("provider_ids", nargs=-1, required=True)
def provision(provider_ids: tuple[str, ...]) -> None:
    """Give each provider a telephony bridge device: a fresh Ed25519 key (stored sealed) and a
    client certificate for the broker (under <state>/pki/devices). Idempotent per provider."""
    from gateway.evidence.keys import KeyRing
    from gateway.pki.devices import DeviceCertificates
    from gateway.telephony import bridges

    settings = get_settings()

    def _provision(conn: Connection) -> list[str]:
        created = bridges.provision(conn, KeyRing(settings.master_key), list(provider_ids))
        if created:
            DeviceCertificates(settings).provision_local(conn, created)
        return created

    created = _in_transaction(_provision)
    click.echo(json.dumps({"created": created}))


@telephony.command("pin")
@click.argument("carer_id")
@click.option("--ask", is_flag=True, help="Type the PIN (not echoed) instead of generating one.")
def pin(carer_id: str, ask: bool) -> None:
    """Set a carer's telephone PIN: generated and printed once, or typed with --ask."""
    from gateway.telephony.pins import PinHasher
    from gateway.telephony.service import set_carer_pin

    chosen = getpass.getpass("PIN: ") if ask else None
    hasher = PinHasher(get_settings().master_key)
    result = _in_transaction(lambda conn: set_carer_pin(conn, hasher, carer_id, chosen, "cli"))
    shown = {"carer_id": result.carer_id, "set_at": result.set_at.isoformat()}
    if result.pin is not None:
        shown["pin"] = result.pin
    click.echo(json.dumps(shown))


@telephony.command("landline")
@click.argument("service_user_id")
@click.argument("number", required=False)
def landline(service_user_id: str, number: str | None) -> None:
    """Register the home's landline (any usual form; stored E.164), or remove it."""
    from gateway.telephony.service import set_landline

    stored = _in_transaction(lambda conn: set_landline(conn, service_user_id, number))
    click.echo(json.dumps({"service_user_id": service_user_id, "landline": stored}))


@telephony.command("number")
@click.argument("number")
@click.option("--provider", "provider_id", required=True)
def number(number: str, provider_id: str) -> None:
    """Register a number carers call, answering for one provider."""
    from gateway.telephony.service import add_number

    stored = _in_transaction(lambda conn: add_number(conn, number, provider_id))
    click.echo(json.dumps({"number": stored, "provider_id": provider_id}))


def _in_transaction(work: Callable[[Connection], T]) -> T:
    from core.db import make_engine
    from gateway.telephony.bridges import BridgeError
    from gateway.telephony.service import TelephonyError

    engine = make_engine(get_settings(), "telephony-admin", pool_size=1)
    try:
        with engine.begin() as conn:
            return work(conn)
    except (TelephonyError, BridgeError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
