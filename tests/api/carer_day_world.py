"""A provider whose carer works the hand-computed day of tests/visits/test_carer_day.py, in a
council's commission, and another provider with a carer of its own: for the API and portal
tests of the carer's day. Built with the one test world factory (tests.support.world)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from gateway.protocol import EventType
from tests.api.api_support import insert_event, utc
from tests.support.devices import TestDevice
from tests.support.world import World

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
    """A council commissioning a provider whose carer (Ann Carer) works the hand-computed day,
    with `colleagues` more carers working the same round an hour later each; and another
    provider with a carer of its own."""
    world = World()
    council_id = world.council()
    provider_id = world.provider(name="Wensum Home Care Ltd", council_id=council_id)
    other_id = world.provider(name="Yare Home Care Ltd")
    handsets = [world.handset(provider_id, carer_name=name) for name in NAMES[: 1 + colleagues]]
    other_carer = world.carer(other_id, name="Ben Carer")
    homes = {
        name: world.home(name=f"Home {name}", council_id=council_id, lat=lat, lon=lon)
        for name, (lat, lon) in HOMES.items()
    }
    world.seed(engine)
    for later, handset in enumerate(handsets):
        device = TestDevice(
            provider_id=provider_id,
            carer_id=handset.carer_id,
            device_id=handset.device_id,
            service_user_id="given-per-event",
            tag_uid="",
            key=handset.key,
        )
        for home, start, end in ROUND:
            shift = timedelta(hours=later)
            for type_, at in ((EventType.CHECK_IN, start), (EventType.CHECK_OUT, end)):
                moment = utc(f"{DAY}T{at}") + shift
                insert_event(engine, device, type_, moment, service_user_id=homes[home])
    return CarerWorld(council_id, provider_id, handsets[0].carer_id, other_id, other_carer)
