"""A council with one lot (a lead, two additional and two DPS providers) and its service users,
seeded through the registry as a council would seed them, for the commissioning tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Engine, text

from commissioning import service
from commissioning.model import CascadeMode, Policy, VisitSlot
from commissioning.repository import set_policy
from core.access import Scope
from tests.support.access import manager, officer
from tests.support.ids import unique
from tests.support.world import World, tag_uid

# A Monday, long before any test runs, so every lineup is in force.
CONTRACT_START = date(2026, 1, 5)
MORNING = VisitSlot(
    days=frozenset(range(7)), start=time(7, 30), minutes=45, carers=2, service_type="personal care"
)
TEA = VisitSlot(
    days=frozenset(range(5)), start=time(17, 0), minutes=30, carers=1, service_type="meal"
)


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
    def officer(self) -> Scope:
        return officer(self.council_id, frozenset({self.lead, *self.additional, *self.dps}))

    def manager(self, provider_id: str) -> Scope:
        return manager(provider_id)

    def add_home(self) -> str:
        homes = World()
        home = homes.home(council_id=self.council_id, name="A Person", home_tag_uid=tag_uid())
        homes.seed(self.engine)
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
    registry = World()
    council_id = registry.council()
    lead, a1, a2, d1, d2 = (
        registry.provider(unique(prefix), name=f"{name} Home Care Ltd")
        for prefix, name in (
            ("PL", "Lead"),
            ("PA", "Avon"),
            ("PB", "Brook"),
            ("PD", "Dales"),
            ("PE", "Eden"),
        )
    )
    lot_id = registry.lot(
        council_id, lead=lead, additional=[a1, a2], dps=[d1, d2], effective_from=CONTRACT_START
    )
    registry.seed(engine)
    world = LotWorld(engine, council_id, lot_id, lead, (a1, a2), (d1, d2))
    world.set_policy(
        Policy(
            response_working_hours=response_working_hours,
            additional_mode=additional_mode,
            dps_mode=dps_mode,
        )
    )
    return world
