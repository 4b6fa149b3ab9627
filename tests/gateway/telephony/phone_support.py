"""A small world for telephone check-in tests: two providers with their numbers and bridge
devices, a home with a registered landline, carers with numbers and PINs, and the webhook app
on a clock the test moves."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from core.settings import Settings
from firmware_sim.telephony import CallResult, TelephonyProvider
from gateway.evidence.keys import KeyRing
from gateway.pki.devices import DeviceCertificates
from gateway.telephony import bridges
from gateway.telephony.pins import PinHasher
from gateway.telephony.service import set_carer_pin
from gateway.telephony.webhook import create_app
from tests.support.world import World

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_URL = "https://ecm.example.test"


class Clock:
    """The call clock: when a call happens. Tests move it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def phone_settings(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(
        update={
            "telephony_auth_token": AUTH_TOKEN,
            "telephony_public_url": PUBLIC_URL,
            **overrides,
        }
    )


def _digits(count: int) -> str:
    return "".join(random.choice("0123456789") for _ in range(count))


def uk_landline() -> str:
    """A number in Ofcom's range for drama (01632 960xxx is reserved), made unique here."""
    return "+441632" + _digits(6)


def freephone() -> str:
    return "+44800" + _digits(7)


@dataclass
class PhoneCarer:
    carer_id: str
    provider_id: str
    carer_number: str
    pin: str


@dataclass
class PhoneWorld:
    provider_id: str
    other_provider_id: str
    number: str
    other_number: str
    service_user_id: str
    landline: str
    other_service_user_id: str
    other_landline: str
    carer: PhoneCarer
    other_carer: PhoneCarer
    bridge_device_id: str
    other_bridge_device_id: str

    def keys(self, carer: PhoneCarer | None = None, pin: str | None = None) -> list[str]:
        carer = carer or self.carer
        return [carer.carer_number, pin or carer.pin]


def make_phone_world(
    engine: Engine, settings: Settings, *, bridges_for_both: bool = True
) -> PhoneWorld:
    world = World()
    provider_id = world.provider(name="Wensum Home Care Ltd")
    other_provider_id = world.provider(name="Yare Home Care Ltd")
    number, other_number = freephone(), freephone()
    world.telephony_number(number, provider_id)
    world.telephony_number(other_number, other_provider_id)
    carer = PhoneCarer("", provider_id, _digits(8), "4711")
    other = PhoneCarer("", other_provider_id, _digits(8), "2468")
    carer.carer_id = world.carer(provider_id, name="Ann Carer", number=carer.carer_number)
    other.carer_id = world.carer(other_provider_id, name="Ben Carer", number=other.carer_number)
    landline, other_landline = uk_landline(), uk_landline()
    # Registered the way people write numbers; stored in E.164.
    su = world.home(landline="0" + landline.removeprefix("+44"))
    other_su = world.home(name="Cyril User", lat=52.64, lon=1.30, landline=other_landline)
    pins = PinHasher(settings.master_key)
    with engine.begin() as conn:
        world.seed(conn)
        for person in (carer, other):
            set_carer_pin(conn, pins, person.carer_id, person.pin, "test")
        providers = [provider_id, other_provider_id] if bridges_for_both else [provider_id]
        created = bridges.provision(conn, KeyRing(settings.master_key), providers)
        DeviceCertificates(settings).provision_local(conn, created)
    return PhoneWorld(
        provider_id=provider_id,
        other_provider_id=other_provider_id,
        number=number,
        other_number=other_number,
        service_user_id=su,
        landline=landline,
        other_service_user_id=other_su,
        other_landline=other_landline,
        carer=carer,
        other_carer=other,
        bridge_device_id=bridges.bridge_device_id(provider_id),
        other_bridge_device_id=bridges.bridge_device_id(other_provider_id),
    )


@contextmanager
def telephony_app(settings: Settings, clock: Clock) -> Iterator[TelephonyProvider]:
    """The webhook app (lifespan running: its outbox publisher too), and the simulated
    provider that calls it."""
    app = create_app(phone_settings(settings), clock=clock)
    with TestClient(app, base_url=PUBLIC_URL) as client:
        yield TelephonyProvider(client, PUBLIC_URL, AUTH_TOKEN)


def call(provider: TelephonyProvider, world: PhoneWorld, keyed: list[str], **kw: str) -> CallResult:
    return provider.call(kw.get("caller", world.landline), kw.get("called", world.number), keyed)


def call_row(engine: Engine, call_sid: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(text("select * from telephony_call where call_sid = :s"), {"s": call_sid})
            .mappings()
            .first()
        )
    return dict(row) if row else None


def bridge_events(engine: Engine, call_sid: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("select * from telephony_event where call_sid = :s order by seq"),
            {"s": call_sid},
        ).mappings()
        return [dict(row) for row in rows]


def morning(hour: int, minute: int) -> datetime:
    """A moment of 15 January 2026: winter, so London time is UTC and reads the same."""
    return datetime(2026, 1, 15, hour, minute, tzinfo=UTC)
