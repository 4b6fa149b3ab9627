"""Two complete tenants for access-control tests: a council commissioning one provider, with a
carer, a handset, a service user of that council, and a visit's events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Engine

from commissioning import repository, service
from commissioning.model import VisitSlot
from core.access import Role, Scope
from core.settings import Settings
from core.times import LONDON
from gateway.protocol import EventType
from reconciliation import runs
from reconciliation.views import RunRequest
from tests.api.api_support import insert_event
from tests.support.access import manager, officer
from tests.support.devices import TestDevice
from tests.support.ids import unique
from tests.support.world import World, tag_uid
from tests.visits.support import CareWorld, plan
from visits import manual_visits
from visits.alerts import evaluate
from visits.freshness import VisitFreshness
from visits.views import ManualVisitRequest


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
    # The portal's working records (make_tenant with settings): an alert, a manual visit
    # record awaiting the council, a reconciliation run. Empty when not made.
    records: dict[str, str] = field(default_factory=dict)

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
            **self.records,
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


def working_records(
    engine: Engine, settings: Settings, council_id: str, device: TestDevice, lot: str | None
) -> dict[str, str]:
    """A missed visit with its alert and a manual visit record awaiting the council, and a
    reconciliation run of one invoice line: ids the matrix asks another tenant for."""
    world = CareWorld(engine, council_id, device.provider_id, lot or "")
    home = device.service_user_id
    now = datetime.now(UTC).replace(microsecond=0)
    first = now - timedelta(hours=5)
    ref = plan(engine, world, home, first.isoformat())
    # The home's next planned visit is due an hour later: the first is missed by then.
    plan(engine, world, home, (first + timedelta(hours=1)).isoformat())
    provider = Scope("tenant", frozenset({Role.PROVIDER_MANAGER}), provider_id=device.provider_id)
    council = Scope("tenant", frozenset({Role.COUNCIL_OFFICER}), council_id=council_id)
    freshness = VisitFreshness(settings)
    try:
        with engine.begin() as conn:
            evaluate(conn, settings, now)
            record = manual_visits.request_manual_visit(
                conn,
                provider,
                device.provider_id,
                ManualVisitRequest(
                    visit_ref=ref,
                    carer_id=device.carer_id,
                    check_in=first + timedelta(minutes=1),
                    check_out=first + timedelta(minutes=20),
                    note="Recorded by hand for the access matrix",
                ),
                now,
            )
            assert record.alert_id is not None
            runs.put_contract(
                conn,
                council,
                council_id,
                f'[[provider]]\nref = "{device.provider_id}"\ncontract = "framework"\n'
                "rate_per_hour = 20.00\n",
            )
            day = (now - timedelta(hours=2)).astimezone(LONDON)
            invoice = runs.upload_invoice(
                conn,
                council,
                council_id,
                "tenant.csv",
                "invoice_ref,line_no,provider_ref,service_user_ref,visit_date,start,end,"
                "minutes_claimed,carers,amount_claimed\n"
                f"INV-T,1,{device.provider_id},{home},{day.date().isoformat()},"
                f"{day:%H:%M},{day + timedelta(minutes=30):%H:%M},30,1,10.00\n",
            )
            run = runs.start_run(
                conn, freshness, council, council_id, RunRequest(invoice_ids=[invoice.id])
            )
    finally:
        freshness.dispose()
    return {
        "alert_id": str(record.alert_id),
        "manual_visit_id": str(record.id),
        "run_id": str(run.id),
        "other_run_id": str(run.id),
        "invoice_id": str(invoice.id),
        "position": "1",
    }


def make_tenant(engine: Engine, settings: Settings | None = None) -> Tenant:
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
    records = (
        working_records(engine, settings, council_id, device, None) if settings is not None else {}
    )
    return Tenant(
        council_id,
        device,
        (str(check_in), str(check_out)),
        commission(engine, council_id, lot_id, device),
        records,
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
