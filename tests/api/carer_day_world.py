"""A provider whose carer works the hand-computed day of tests/visits/test_carer_day.py, in a
council's commission, and another provider with a carer of its own: for the API and portal
tests of the carer's day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from gateway.protocol import EventType, public_key_to_b64
from gateway.registry import (
    Carer,
    Commission,
    Council,
    Device,
    Provider,
    RegistryDocument,
    ServiceUser,
    seed,
)
from tests.api.api_support import insert_event, utc
from tests.conftest import TestDevice, unique

DAY = "2026-01-15"
HOMES = {"A": (52.000, 1.0), "B": (52.018, 1.0), "C": (52.035, 1.0)}
ROUND = (
    ("A", "07:00", "07:30"),
    ("B", "07:45", "08:30"),
    ("C", "08:40", "09:00"),
    ("A", "12:00", "12:30"),
)
NAMES = ("Ann Carer", "Cath Carer", "Dev Carer", "Eve Carer")


@dataclass(frozen=True)
class CarerWorld:
    council_id: str
    provider_id: str
    carer_id: str
    other_provider_id: str
    other_carer_id: str


def make_world(engine: Engine, colleagues: int = 0) -> CarerWorld:
    """A council commissioning a provider whose carer (Ann Carer) works the hand-computed day of
    tests/visits/test_carer_day.py, with `colleagues` more carers working the same round an hour
    later each; and another provider with a carer of its own."""
    council_id, provider_id, other_id = unique("CO"), unique("P"), unique("P")
    devices = [
        TestDevice(
            provider_id=provider_id,
            carer_id=unique("C"),
            device_id=unique("D"),
            service_user_id="given-per-event",
            tag_uid="",
            key=Ed25519PrivateKey.generate(),
        )
        for _ in range(1 + colleagues)
    ]
    homes = {name: unique("SU") for name in HOMES}
    other_carer = unique("C")
    with engine.begin() as conn:
        seed(
            conn,
            RegistryDocument(
                councils=[Council(id=council_id, name="Test Council")],
                providers=[
                    Provider(id=provider_id, name="Wensum Home Care Ltd"),
                    Provider(id=other_id, name="Yare Home Care Ltd"),
                ],
                commissions=[Commission(council_id=council_id, provider_id=provider_id)],
                carers=[
                    *(
                        Carer(id=d.carer_id, provider_id=provider_id, name=name)
                        for d, name in zip(devices, NAMES, strict=False)
                    ),
                    Carer(id=other_carer, provider_id=other_id, name="Ben Carer"),
                ],
                devices=[
                    Device(
                        id=d.device_id,
                        provider_id=provider_id,
                        public_key=public_key_to_b64(d.key.public_key()),
                    )
                    for d in devices
                ],
                service_users=[
                    ServiceUser(
                        id=homes[name],
                        name=f"Home {name}",
                        home_lat=lat,
                        home_lon=lon,
                        council_id=council_id,
                    )
                    for name, (lat, lon) in HOMES.items()
                ],
            ),
        )
    for later, device in enumerate(devices):
        for home, start, end in ROUND:
            su = homes[home]
            shift = timedelta(hours=later)
            for type_, at in ((EventType.CHECK_IN, start), (EventType.CHECK_OUT, end)):
                moment = utc(f"{DAY}T{at}") + shift
                insert_event(engine, device, type_, moment, service_user_id=su)
    return CarerWorld(council_id, provider_id, devices[0].carer_id, other_id, other_carer)
