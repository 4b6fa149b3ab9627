"""A council with one lot (a lead, two additional and two DPS providers) and its service users,
seeded through the registry as a council would seed them, for the commissioning tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Engine, text

from commissioning import service
from commissioning.model import CascadeMode, Policy, VisitSlot
from commissioning.repository import set_policy
from gateway.registry import Council, Lot, Provider, RegistryDocument, ServiceUser, seed
from tests.conftest import unique

# A Monday, long before any test runs, so every lineup is in force.
CONTRACT_START = date(2026, 1, 5)
MORNING = VisitSlot(
    days=frozenset(range(7)), start=time(7, 30), minutes=45, carers=2, service_type="personal care"
)
TEA = VisitSlot(
    days=frozenset(range(5)), start=time(17, 0), minutes=30, carers=1, service_type="meal"
)


@dataclass(frozen=True)
class Officer:
    """A council officer, as the API's principal would be."""

    subject: str
    council_id: str | None
    provider_id: str | None = None
    is_admin: bool = False
    provider_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Manager:
    """A provider manager."""

    subject: str
    provider_id: str
    council_id: str | None = None
    is_admin: bool = False
    provider_ids: frozenset[str] = frozenset()


@dataclass
class LotWorld:
    engine: Engine
    council_id: str
    lot_id: str
    lead: str
    additional: tuple[str, str]
    dps: tuple[str, str]
    homes: list[str] = field(default_factory=list)

    @property
    def officer(self) -> Officer:
        return Officer(
            subject=f"officer-{self.council_id}",
            council_id=self.council_id,
            provider_ids=frozenset({self.lead, *self.additional, *self.dps}),
        )

    def manager(self, provider_id: str) -> Manager:
        return Manager(subject=f"manager-{provider_id}", provider_id=provider_id)

    def add_home(self) -> str:
        home = unique("SU")
        with self.engine.begin() as conn:
            seed(
                conn,
                RegistryDocument(
                    service_users=[
                        ServiceUser(
                            id=home,
                            name="A Person",
                            home_lat=52.63,
                            home_lon=1.29,
                            home_tag_uid=uuid.uuid4().hex[:14].upper(),
                            council_id=self.council_id,
                        )
                    ]
                ),
            )
        self.homes.append(home)
        return home

    def set_policy(self, policy: Policy) -> None:
        with self.engine.begin() as conn:
            set_policy(conn, self.council_id, policy)

    def request(
        self,
        now: datetime,
        *,
        visits: tuple[VisitSlot, ...] = (MORNING,),
        start: date | None = None,
        ref: str | None = None,
    ) -> int:
        home = self.add_home()
        with self.engine.begin() as conn:
            return service.create_request(
                conn,
                self.officer,
                service.RequestDetails(
                    council_id=self.council_id,
                    request_ref=ref,
                    service_user_id=home,
                    lot_id=self.lot_id,
                    start_date=start or now.date(),
                    end_date=None,
                    visits=visits,
                    notes="Key safe 1234; prefers female carers.",
                ),
                now=now,
            )

    def offers(self, request_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                dict(row)
                for row in conn.execute(
                    text("select * from service_offer where request_id = :r order by id"),
                    {"r": request_id},
                ).mappings()
            ]

    def request_row(self, request_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return dict(
                conn.execute(text("select * from service_request where id = :r"), {"r": request_id})
                .mappings()
                .one()
            )

    def events(self, request_id: int) -> list[tuple[str, str | None]]:
        with self.engine.connect() as conn:
            return [
                (kind, provider)
                for kind, provider in conn.execute(
                    text(
                        "select kind, provider_id from service_request_event "
                        "where request_id = :r order by id"
                    ),
                    {"r": request_id},
                )
            ]


def lot_world(
    engine: Engine,
    *,
    additional_mode: CascadeMode = CascadeMode.ONE_AT_A_TIME,
    dps_mode: CascadeMode = CascadeMode.ALL_AT_ONCE,
    response_working_hours: int = 24,
) -> LotWorld:
    council_id = unique("LA")
    lot_id = unique("lot-")
    lead, a1, a2, d1, d2 = (unique(p) for p in ("PL", "PA", "PB", "PD", "PE"))
    with engine.begin() as conn:
        seed(
            conn,
            RegistryDocument(
                councils=[Council(id=council_id, name="Test Council")],
                providers=[Provider(id=p, name=f"Care {p}") for p in (lead, a1, a2, d1, d2)],
                lots=[
                    Lot(
                        council_id=council_id,
                        id=lot_id,
                        name="North",
                        effective_from=CONTRACT_START,
                        lead=lead,
                        additional=[a1, a2],
                        dps=[d1, d2],
                    )
                ],
            ),
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    world = LotWorld(engine, council_id, lot_id, lead, (a1, a2), (d1, d2))
    world.set_policy(
        Policy(
            response_working_hours=response_working_hours,
            additional_mode=additional_mode,
            dps_mode=dps_mode,
        )
    )
    return world
