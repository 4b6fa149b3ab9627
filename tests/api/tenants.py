"""Two complete tenants for access-control tests: a council commissioning one provider, with a
carer, a handset, a service user of that council, and a visit's events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from gateway.protocol import EventType
from tests.api.api_support import insert_event
from tests.support.devices import TestDevice
from tests.support.world import World, tag_uid


@dataclass(frozen=True)
class Tenant:
    council_id: str
    device: TestDevice
    event_ids: tuple[str, ...]

    @property
    def provider_id(self) -> str:
        return self.device.provider_id

    def ids(self) -> dict[str, str]:
        """Every id of this tenant, by the path parameter name an endpoint would use."""
        return {
            "council_id": self.council_id,
            "provider_id": self.provider_id,
            "carer_id": self.device.carer_id,
            "device_id": self.device.device_id,
            "service_user_id": self.device.service_user_id,
            "event_id": self.event_ids[0],
            "visit_id": self.event_ids[0],
        }

    def markers(self) -> set[str]:
        """Strings that must never appear in a response to another tenant."""
        return {
            self.provider_id,
            self.device.carer_id,
            self.device.device_id,
            self.device.service_user_id,
            *self.event_ids,
        }


def make_tenant(engine: Engine) -> Tenant:
    world = World()
    council_id = world.council()
    provider_id = world.provider(council_id=council_id)
    handset = world.handset(provider_id)
    device = TestDevice(
        provider_id=provider_id,
        carer_id=handset.carer_id,
        device_id=handset.device_id,
        service_user_id="",
        tag_uid=tag_uid(),
        key=handset.key,
    )
    device.service_user_id = world.home(council_id=council_id, home_tag_uid=device.tag_uid)
    world.seed(engine)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    check_in = insert_event(engine, device, EventType.CHECK_IN, start, tag_uid=device.tag_uid)
    check_out = insert_event(
        engine, device, EventType.CHECK_OUT, start + timedelta(minutes=30), tag_uid=device.tag_uid
    )
    return Tenant(council_id, device, (str(check_in), str(check_out)))
