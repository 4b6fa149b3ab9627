"""The demo's service requests: after the morning, the council gives its providers a lot (the
first as lead, the next two as additional providers, the last on the DPS list) and places three
new requests on a simulated clock: one the lead accepts, one the lead declines and an additional
provider takes, and one nobody answers until its deadline passes, when it moves on down the
cascade. Printed as a table (docs/service-requests.md)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from rich.table import Table
from sqlalchemy import Engine

from commissioning import reads, service
from commissioning.model import LONDON, DeclineReason, OfferStatus, VisitSlot
from commissioning.views import ServiceRequest
from core.access import Role, Scope
from core.db import make_engine
from core.settings import Settings
from gateway.registry import Lot, RegistryDocument, repository, seed

LOT_ID = "north"
DAILY = frozenset(range(7))
WEEKDAYS = frozenset(range(5))
# Three packages a social worker might send: a double-handed morning, meals, a bedtime call.
PATTERNS = (
    (VisitSlot(DAILY, time(7, 30), 45, 2, "personal care"),),
    (
        VisitSlot(WEEKDAYS, time(12, 30), 30, 1, "meal"),
        VisitSlot(WEEKDAYS, time(17, 30), 30, 1, "meal"),
    ),
    (VisitSlot(DAILY, time(21, 0), 20, 1, "bedtime"),),
)


def _officer(council_id: str, providers: list[str]) -> Scope:
    return Scope(
        subject="demo-officer",
        roles=frozenset({Role.COUNCIL_OFFICER.value}),
        council_id=council_id,
        provider_ids=frozenset(providers),
    )


def _manager(provider_id: str) -> Scope:
    return Scope(
        subject=f"demo-{provider_id}",
        roles=frozenset({Role.PROVIDER_MANAGER.value}),
        provider_id=provider_id,
    )


def place_requests(settings: Settings, council_id: str) -> Table:
    engine = make_engine(settings, "demo", pool_size=1)
    try:
        return _place(engine, settings, council_id)
    finally:
        engine.dispose()


def _place(engine: Engine, settings: Settings, council_id: str) -> Table:
    clock = datetime.now(UTC).replace(second=0, microsecond=0)
    with engine.begin() as conn:
        providers = sorted(c.provider_id for c in repository.list_commissions(conn, council_id))
        homes = sorted(
            u.id for u in repository.list_service_users(conn) if u.council_id == council_id
        )[: len(PATTERNS)]
        lead, first, second, *rest = providers
        lot = Lot(
            council_id=council_id,
            id=LOT_ID,
            name="North",
            effective_from=clock.astimezone(LONDON).date(),
            lead=lead,
            additional=[first, second],
            dps=rest,
        )
        seed(conn, RegistryDocument(lots=[lot]), now=clock)
    officer = _officer(council_id, providers)
    start = clock.astimezone(LONDON).date() + timedelta(days=1)
    made = []
    for home, pattern in zip(homes, PATTERNS, strict=True):
        with engine.begin() as conn:
            made.append(
                service.create_request(
                    conn,
                    officer,
                    service.RequestDetails(
                        council_id=council_id,
                        request_ref=None,
                        service_user_id=home,
                        lot_id=LOT_ID,
                        start_date=start,
                        end_date=None,
                        visits=pattern,
                        notes="Demo request.",
                    ),
                    now=clock,
                )
            )
    accepted, declined, ignored = made

    def answer(request_id: int, provider_id: str, minutes: int, decline: bool = False) -> None:
        manager = _manager(provider_id)
        with engine.begin() as conn:
            [offer] = [
                o
                for o in reads.request_view(conn, officer, request_id, now=clock).offers
                if o.provider_id == provider_id and o.status is OfferStatus.OPEN
            ]
            at = clock + timedelta(minutes=minutes)
            if decline:
                service.decline(
                    conn, manager, provider_id, offer.id, DeclineReason.NO_CAPACITY, "", now=at
                )
            else:
                service.accept(
                    conn,
                    manager,
                    provider_id,
                    offer.id,
                    horizon_days=settings.requests_plan_horizon_days,
                    now=at,
                )

    answer(accepted, lead, 20)
    answer(declined, lead, 35, decline=True)
    answer(declined, first, 50)
    # Nobody answers the third: the simulated clock runs on to its deadline.
    with engine.begin() as conn:
        deadline = reads.request_view(conn, officer, ignored, now=clock).offers[0].deadline
        service.advance(conn, now=deadline)
        views = [reads.request_view(conn, officer, r, now=deadline) for r in made]
    return _table(views, providers)


def _steps(view: ServiceRequest) -> str:
    """The offers' steps, with the time only when it moves on (the day only when that does)."""
    parts: list[str] = []
    last: datetime | None = None
    for h in view.history:
        if h.provider_id is None:
            continue
        at = h.at.astimezone(LONDON)
        if last is None or at.date() != last.date():
            when = f"{at:%a %H:%M} "
        elif at != last:
            when = f"{at:%H:%M} "
        else:
            when = ""
        parts.append(f"{when}{h.kind.value.replace('_', ' ')} {h.provider_id}")
        last = at
    return ", ".join(parts)


def _table(views: list[ServiceRequest], providers: list[str]) -> Table:
    table = Table(title=f"New service requests in lot {LOT_ID} (lead {providers[0]})")
    for column in ("request", "service user", "hours a week", "what happened", "now"):
        table.add_column(column, justify="right" if column == "hours a week" else "left")
    for view in views:
        if view.placed_with is not None and view.placed_role is not None:
            role = view.placed_role.value
            state = f"placed with {view.placed_with} ({role}), package {view.package_id}"
        else:
            waiting = [o.provider_id for o in view.offers if o.status is OfferStatus.OPEN]
            state = f"{view.status.value}: offered to {', '.join(waiting) or 'nobody'}"
        table.add_row(
            view.request_ref,
            view.service_user_id,
            f"{view.weekly_hours:.1f}",
            _steps(view),
            state,
        )
    return table
