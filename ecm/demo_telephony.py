"""The demo's telephone check-in and carer's day: a few visits of the morning are called in
from the homes' landlines, through the real webhook, signed by the providers' bridge devices,
published over MQTT and stored by ingest like every handset event; then the carers' days.

The webhook runs in this process on a simulated clock (the morning is in the past), served by
uvicorn on a loopback port; firmware_sim.telephony plays the telephony provider against it,
signing each request with the auth token, and also sends a few forged requests.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import httpx
from rich.table import Table

from core.process import free_port
from core.settings import Settings

if TYPE_CHECKING:
    from firmware_sim.morning import LandlineCall, Phone
    from firmware_sim.telephony import CallResult, TelephonyProvider
    from firmware_sim.world import World

# What each demo provider declares it pays (GBP an hour, travel paid?), in turn.
DEMO_PAY = (("12.00", False), ("12.71", True), ("13.50", False), ("11.90", True))


class SimClock:
    """When a call happens: the simulated morning's time, set before each call."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class PhoneLog:
    calls: list[tuple[LandlineCall, CallResult]] = field(default_factory=list)
    forged: dict[str, int] = field(default_factory=dict)
    replayed_same_answer: bool = False


def register(settings: Settings, api_url: str, auth: dict[str, str], world: World) -> None:
    """Carers' PINs and providers' pay rates through the API, as their managers would set
    them; each provider's telephony bridge device provisioned as `ecm telephony provision`."""
    from core.db import make_engine
    from gateway.evidence.keys import KeyRing
    from gateway.pki.devices import DeviceCertificates
    from gateway.telephony import bridges

    with httpx.Client(base_url=api_url, headers=auth, timeout=30) as api:
        for carer in world.carers:
            api.put(f"/carers/{carer.id}/telephone-pin", json={"pin": carer.pin}).raise_for_status()
        for provider, (rate, travel_paid) in zip(
            world.providers, DEMO_PAY * len(world.providers), strict=False
        ):
            api.put(
                f"/providers/{provider.id}/pay-rate",
                json={
                    "effective_from": "2024-04-01",
                    "hourly_rate_gbp": rate,
                    "travel_paid": travel_paid,
                },
            ).raise_for_status()
    engine = make_engine(settings, "demo", pool_size=1)
    try:
        with engine.begin() as conn:
            created = bridges.provision(
                conn, KeyRing(settings.master_key), [p.id for p in world.providers]
            )
            DeviceCertificates(settings).provision_local(conn, created)
    finally:
        engine.dispose()


@contextmanager
def telephony_role(settings: Settings, clock: SimClock) -> Iterator[TelephonyProvider]:
    """`ecm telephony serve` in this process, on the simulated clock; yields the simulated
    telephony provider that calls it."""
    import uvicorn

    from firmware_sim.telephony import TelephonyProvider
    from gateway.telephony.webhook import create_app

    token = secrets.token_hex(16)
    port = free_port()
    # Refused requests are counted in the summary; their log lines would break the progress bars.
    logging.getLogger("ecm.telephony").setLevel(logging.ERROR)
    app = create_app(settings.model_copy(update={"telephony_auth_token": token}), clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, name="telephony-webhook", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the telephony webhook did not start")
        time.sleep(0.05)
    try:
        with httpx.Client(timeout=30) as client:
            yield TelephonyProvider(client, f"http://127.0.0.1:{port}", token)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def phone(provider: TelephonyProvider, clock: SimClock, log: PhoneLog) -> Phone:
    def place(call: LandlineCall) -> bool:
        clock.now = call.at
        result = provider.call(call.caller, call.called, call.keyed)
        log.calls.append((call, result))
        return result.last_said.startswith(("Checked in", "Checked out"))

    return place


def forge(provider: TelephonyProvider, world: World, log: PhoneLog) -> None:
    """What an attacker without the auth token sends, and one request sent again."""
    home = next(su for su in world.service_users if su.landline)
    number = world.providers[0].phone_number
    assert home.landline is not None and number is not None
    for name, exchange in provider.forged(home.landline, number):
        log.forged[name] = exchange.status
    if log.calls:
        # The morning's last call, while it is recent (an older one is refused as stale).
        _, result = log.calls[-1]
        last = result.exchanges[-1]
        log.replayed_same_answer = provider.replay(last).body == last.body


def wait_published(settings: Settings, timeout_s: float = 60.0) -> int:
    """Until the bridges' outbox is empty; the number of events they published."""
    from core.db import make_engine
    from gateway.telephony import repository

    engine = make_engine(settings, "demo", pool_size=1)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            with engine.connect() as conn:
                pending, published = repository.outbox_counts(conn)
            if pending == 0 or time.monotonic() > deadline:
                return published
            time.sleep(0.2)
    finally:
        engine.dispose()


def calls_table(log: PhoneLog, landline_events: int, landline_visits: int) -> Table:
    table = Table(title="Telephone check-in from the homes' landlines")
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_column("note")
    said = Counter(_outcome(result.last_said) for _, result in log.calls)
    table.add_row(
        "calls placed",
        str(len(log.calls)),
        ", ".join(f"{k} {v}" for k, v in sorted(said.items())),
    )
    table.add_row(
        "events signed by the bridges, stored",
        str(landline_events),
        "evidence level landline",
    )
    table.add_row("visits verified by landline", str(landline_visits), "")
    refused = sum(1 for status in log.forged.values() if status == 403)
    table.add_row(
        "forged webhooks refused",
        f"{refused} of {len(log.forged)}",
        ", ".join(f"{name}: {status}" for name, status in log.forged.items()),
    )
    table.add_row(
        "a call's last request sent again",
        "1",
        "same answer, nothing recorded twice" if log.replayed_same_answer else "ANSWER DIFFERED",
    )
    return table


def _outcome(said: str) -> str:
    for start, name in (("Checked in", "checked in"), ("Checked out", "checked out")):
        if said.startswith(start):
            return name
    return "refused"


def carer_day_table(
    api_url: str, auth: dict[str, str], provider_ids: list[str], day: date
) -> Table:
    """Each carer's day as the API serves it to the provider."""
    table = Table(title=f"Carers' days, {day.isoformat()} (contact, travel and pay vs the floor)")
    for column in (
        "provider",
        "carer",
        "visits",
        "first-last",
        "contact",
        "travel",
        "unpaid gaps",
        "km",
        "pay / floor",
    ):
        table.add_column(column, justify="left" if column in ("provider", "carer") else "right")
    with httpx.Client(base_url=api_url, headers=auth, timeout=60) as api:
        for provider_id in provider_ids:
            response = api.get(
                f"/providers/{provider_id}/carer-days", params={"date": day.isoformat()}
            )
            response.raise_for_status()
            for item in response.json()["items"]:
                table.add_row(*_carer_day_row(provider_id, item))
    return table


def _carer_day_row(provider_id: str, item: dict[str, Any]) -> list[str]:
    from api.times import LONDON

    def at(value: str | None) -> str:
        if value is None:
            return "-"
        return datetime.fromisoformat(value).astimezone(LONDON).strftime("%H:%M")

    pay = item["pay"]
    verdict = "-"
    if pay is not None:
        verdict = f"£{pay['pay_gbp']} / £{pay['floor_gbp']}"
        verdict += f" [bold red]{pay['shortfall_gbp']} short[/]" if pay["below_floor"] else " ok"
    return [
        provider_id,
        item["carer_name"],
        str(item["visits"]),
        f"{at(item['first_check_in'])}-{at(item['last_check_out'])}",
        f"{item['contact_minutes']} min",
        f"{item['travel_minutes']} min",
        f"{item['unpaid_gap_minutes']} min",
        f"{item['distance_km']:.1f}",
        verdict,
    ]
