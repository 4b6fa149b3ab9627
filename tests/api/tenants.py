"""Two complete tenants for access-control tests: a council commissioning one provider, with a
carer, a handset, a service user of that council, and a visit's events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from commissioning import repository, service
from commissioning.model import VisitSlot
from gateway.protocol import EventType, public_key_to_b64
from gateway.registry import (
    Carer,
    Commission,
    Council,
    Device,
    Lot,
    Provider,
    RegistryDocument,
    ServiceUser,
    seed,
)
from tests.api.api_support import insert_event
from tests.commissioning.support import Manager, Officer
from tests.conftest import TestDevice, unique


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
    device = TestDevice(
        provider_id=unique("P"),
        carer_id=unique("C"),
        device_id=unique("D"),
        service_user_id=unique("SU"),
        tag_uid=uuid.uuid4().hex[:14].upper(),
        key=Ed25519PrivateKey.generate(),
    )
    council_id = unique("CO")
    document = RegistryDocument(
        councils=[Council(id=council_id, name="Test Council")],
        providers=[Provider(id=device.provider_id, name="Test Care Ltd")],
        commissions=[Commission(council_id=council_id, provider_id=device.provider_id)],
        carers=[Carer(id=device.carer_id, provider_id=device.provider_id, name="Ann Carer")],
        devices=[
            Device(
                id=device.device_id,
                provider_id=device.provider_id,
                public_key=public_key_to_b64(device.key.public_key()),
            )
        ],
        service_users=[
            ServiceUser(
                id=device.service_user_id,
                name="Bea User",
                home_lat=52.63,
                home_lon=1.29,
                home_tag_uid=device.tag_uid,
                council_id=council_id,
            )
        ],
    )
    with engine.begin() as conn:
        seed(conn, document)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    check_in = insert_event(engine, device, EventType.CHECK_IN, start, tag_uid=device.tag_uid)
    check_out = insert_event(
        engine, device, EventType.CHECK_OUT, start + timedelta(minutes=30), tag_uid=device.tag_uid
    )
    return Tenant(
        council_id, device, (str(check_in), str(check_out)), commission(engine, council_id, device)
    )


def commission(engine: Engine, council_id: str, device: TestDevice) -> Commissioned:
    """A lot led by the tenant's provider, and a request for its service user, accepted."""
    now = datetime.now(UTC)
    lot_id, request_ref = unique("lot-"), unique("REQ-")
    lot = Lot(
        council_id=council_id,
        id=lot_id,
        name="Lot",
        effective_from=date(2026, 1, 5),
        lead=device.provider_id,
    )
    officer = Officer(f"officer-{council_id}", council_id)
    manager = Manager(f"manager-{device.provider_id}", device.provider_id)
    with engine.begin() as conn:
        seed(conn, RegistryDocument(lots=[lot]), now=now)
        request_id = service.create_request(
            conn,
            officer,
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
            conn, manager, device.provider_id, offer.id, horizon_days=2, now=now
        )
    return Commissioned(lot_id, request_id, request_ref, offer.id, package_id)
