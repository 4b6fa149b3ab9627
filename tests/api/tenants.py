"""Two complete tenants for access-control tests: a council commissioning one provider, with a
carer, a handset, a service user of that council, and a visit's events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Engine

from commissioning import repository, service
from commissioning.model import VisitSlot
from gateway.protocol import EventType
from tests.api.api_support import insert_event
from tests.support.access import manager, officer
from tests.support.devices import TestDevice
from tests.support.ids import unique
from tests.support.world import World, tag_uid


@dataclass(frozen=True)
class Commissioned:
    """The tenant's lot (its provider the lead) and a request it accepted, as a package."""

    lot_id: str
    request_id: int
    request_ref: str
    offer_id: int
    package_id: int


@dataclass(frozen=True)
class Tenant:
    council_id: str
    device: TestDevice
    event_ids: tuple[str, ...]
    commissioned: Commissioned

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
            "lot_id": self.commissioned.lot_id,
            "request_id": str(self.commissioned.request_id),
            "offer_id": str(self.commissioned.offer_id),
            "package_id": str(self.commissioned.package_id),
        }

    def markers(self) -> set[str]:
        """Strings that must never appear in a response to another tenant."""
        return {
            self.provider_id,
            self.device.carer_id,
            self.device.device_id,
            self.device.service_user_id,
            *self.event_ids,
            self.commissioned.lot_id,
            self.commissioned.request_ref,
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
    lot_id = world.lot(council_id, lead=provider_id)
    world.seed(engine)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    check_in = insert_event(engine, device, EventType.CHECK_IN, start, tag_uid=device.tag_uid)
    check_out = insert_event(
        engine, device, EventType.CHECK_OUT, start + timedelta(minutes=30), tag_uid=device.tag_uid
    )
    return Tenant(
        council_id,
        device,
        (str(check_in), str(check_out)),
        commission(engine, council_id, lot_id, device),
    )


def commission(engine: Engine, council_id: str, lot_id: str, device: TestDevice) -> Commissioned:
    """A request for the tenant's service user in its lot, accepted by its provider (the
    lot's lead)."""
    now = datetime.now(UTC)
    request_ref = unique("REQ-")
    with engine.begin() as conn:
        request_id = service.create_request(
            conn,
            officer(council_id),
            service.RequestDetails(
                council_id=council_id,
                request_ref=request_ref,
                service_user_id=device.service_user_id,
                lot_id=lot_id,
                start_date=now.date(),
                end_date=None,
                visits=(VisitSlot(frozenset(range(7)), time(23, 30), 15, 1, "check"),),
                notes="",
            ),
            now=now,
        )
        [offer] = repository.offers_of(conn, request_id)
        package_id = service.accept(
            conn, manager(device.provider_id), device.provider_id, offer.id, horizon_days=2, now=now
        )
    return Commissioned(lot_id, request_id, request_ref, offer.id, package_id)
