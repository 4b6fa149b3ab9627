"""The cascade on the real database, driven by an injected clock: the lead first, additional
providers one at a time, DPS providers all at once; deadlines in working hours across a weekend
and a bank holiday; declines with reasons; withdrawal and re-offer; every step in the history."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from commissioning import reads, service
from commissioning.model import LONDON, CascadeMode, DeclineReason, Policy
from core.errors import Conflict, Forbidden, NotFound, Unprocessable
from tests.commissioning.support import LotWorld, lot_world
from tests.support.access import administrator, officer

# Friday before the spring bank holiday (Monday 25 May 2026), mid-afternoon.
FRIDAY = datetime(2026, 5, 22, 15, 0, tzinfo=LONDON)
TUESDAY = datetime(2026, 5, 26, 15, 0, tzinfo=LONDON)


def advance(world: LotWorld, now: datetime) -> None:
    # Passes see every test's requests; tests check their own world's, never the counts.
    with world.engine.begin() as conn:
        service.advance(conn, now=now)


def open_offers(world: LotWorld, request_id: int) -> list[tuple[str, str, datetime]]:
    return [
        (o["provider_id"], o["role"], o["deadline"])
        for o in world.offers(request_id)
        if o["status"] == "open"
    ]


def offer_id(world: LotWorld, request_id: int, provider_id: str) -> int:
    return next(
        o["id"]
        for o in world.offers(request_id)
        if o["provider_id"] == provider_id and o["status"] == "open"
    )


def decline(world: LotWorld, request_id: int, provider: str, now: datetime, **kw: object) -> None:
    reason = kw.get("reason", DeclineReason.NO_CAPACITY)
    assert isinstance(reason, DeclineReason)
    with world.engine.begin() as conn:
        service.decline(
            conn,
            world.manager(provider),
            provider,
            offer_id(world, request_id, provider),
            reason,
            str(kw.get("note", "")),
            now=now,
        )


def accept(world: LotWorld, request_id: int, provider: str, now: datetime) -> int:
    with world.engine.begin() as conn:
        return service.accept(
            conn,
            world.manager(provider),
            provider,
            offer_id(world, request_id, provider),
            horizon_days=14,
            now=now,
        )


def test_the_cascade_in_order_on_the_clock(engine: Engine) -> None:
    world = lot_world(engine)
    (a1, a2), (d1, d2) = world.additional, world.dps
    request_id = world.request(FRIDAY)

    # The lead is offered it first, due 24 working hours later: Friday's 9 hours, then the 15
    # left on Tuesday (Saturday, Sunday and the bank holiday Monday do not count).
    assert open_offers(world, request_id) == [(world.lead, "lead", TUESDAY)]
    advance(world, TUESDAY - timedelta(seconds=1))
    assert open_offers(world, request_id) == [(world.lead, "lead", TUESDAY)]

    # At the deadline it expires and the first additional provider is offered it.
    advance(world, TUESDAY)
    assert open_offers(world, request_id) == [(a1, "additional", TUESDAY + timedelta(days=1))]

    # A1 declines an hour later: A2 is offered it, with 24 working hours from then.
    declined_at = TUESDAY + timedelta(hours=1)
    decline(world, request_id, a1, declined_at)
    a2_deadline = declined_at + timedelta(days=1)
    assert open_offers(world, request_id) == [(a2, "additional", a2_deadline)]

    # A2 reads the offer (a view is recorded) but lets it expire: both DPS providers are
    # offered it at once.
    with world.engine.begin() as conn:
        seen = reads.offer_for_provider(
            conn, world.manager(a2), a2, offer_id(world, request_id, a2), now=declined_at
        )
    assert seen.offer.views == 1 and seen.notes.startswith("Key safe")
    advance(world, a2_deadline)
    assert sorted(open_offers(world, request_id)) == sorted(
        [(d1, "dps", a2_deadline + timedelta(days=1)), (d2, "dps", a2_deadline + timedelta(days=1))]
    )

    # D1 declines; D2 accepts: placed with a DPS provider.
    decline(
        world,
        request_id,
        d1,
        a2_deadline + timedelta(hours=1),
        reason=DeclineReason.OTHER,
        note="Only weekday mornings",
    )
    package_id = accept(world, request_id, d2, a2_deadline + timedelta(hours=2))
    request = world.request_row(request_id)
    assert (request["status"], request["placed_with"], request["placed_role"]) == (
        "placed",
        d2,
        "dps",
    )
    assert package_id > 0
    assert world.events(request_id) == [
        ("created", None),
        ("offered", world.lead),
        ("expired", world.lead),
        ("offered", a1),
        ("declined", a1),
        ("offered", a2),
        ("viewed", a2),
        ("expired", a2),
        ("offered", d1),
        ("offered", d2),
        ("declined", d1),
        ("accepted", d2),
    ]
    statuses = {
        o["provider_id"]: (o["status"], o["decline_reason"]) for o in world.offers(request_id)
    }
    assert statuses == {
        world.lead: ("expired", None),
        a1: ("declined", "no_capacity"),
        a2: ("expired", None),
        d1: ("declined", "other"),
        d2: ("accepted", None),
    }


def test_all_at_once_first_to_accept_wins_and_the_others_are_told(engine: Engine) -> None:
    world = lot_world(engine, additional_mode=CascadeMode.ALL_AT_ONCE)
    (a1, a2) = world.additional
    request_id = world.request(FRIDAY)
    decline(world, request_id, world.lead, FRIDAY + timedelta(minutes=5))
    assert {p for p, _, _ in open_offers(world, request_id)} == {a1, a2}
    accept(world, request_id, a2, FRIDAY + timedelta(minutes=10))
    statuses = {o["provider_id"]: o["status"] for o in world.offers(request_id)}
    assert statuses[a1] == "placed_elsewhere" and statuses[a2] == "accepted"
    with engine.connect() as conn:
        events = conn.exec_driver_sql(
            "select provider_id, event from request_notification where request_id = %(r)s "
            "order by id",
            {"r": request_id},
        ).all()
    assert [tuple(e) for e in events] == [
        (world.lead, "request.offered"),
        (a1, "request.offered"),
        (a2, "request.offered"),
        (a1, "request.placed_elsewhere"),
    ]
    # A1's late acceptance is refused.
    with world.engine.begin() as conn, pytest.raises(Conflict, match="placed_elsewhere"):
        offers = {o["provider_id"]: o["id"] for o in world.offers(request_id)}
        service.accept(conn, world.manager(a1), a1, offers[a1], horizon_days=14, now=FRIDAY)


def test_every_provider_saying_no_leaves_it_unplaced_then_the_council_reoffers(
    engine: Engine,
) -> None:
    world = lot_world(engine, response_working_hours=4)
    request_id = world.request(FRIDAY)
    moment = FRIDAY
    for provider in (world.lead, *world.additional):
        moment += timedelta(minutes=10)
        decline(world, request_id, provider, moment)
    # Both DPS providers are offered it together; 4 working hours from Friday 15:30 is 19:30.
    deadline = datetime(2026, 5, 22, 19, 30, tzinfo=LONDON)
    assert {d for _, _, d in open_offers(world, request_id)} == {deadline}
    advance(world, deadline)
    assert world.request_row(request_id)["status"] == "unplaced"
    assert world.events(request_id)[-3:] == [
        ("expired", world.dps[0]),
        ("expired", world.dps[1]),
        ("unplaced", None),
    ]

    # The officer offers it afresh: the lead first again, in a new round.
    later = TUESDAY
    with world.engine.begin() as conn:
        service.reoffer(conn, world.officer, request_id, None, now=later)
    row = world.request_row(request_id)
    assert row["status"] == "open"
    [(provider, role, _)] = open_offers(world, request_id)
    assert (provider, role) == (world.lead, "lead")
    assert {o["round"] for o in world.offers(request_id) if o["status"] == "open"} == {1}

    # Or to one provider of the lot alone; the open offer to the lead is withdrawn.
    with world.engine.begin() as conn:
        service.reoffer(conn, world.officer, request_id, world.dps[1], now=later)
    assert [(p, r) for p, r, _ in open_offers(world, request_id)] == [(world.dps[1], "dps")]
    with world.engine.begin() as conn, pytest.raises(Unprocessable, match="not in lot"):
        service.reoffer(conn, world.officer, request_id, "P-not-in-the-lot", now=later)

    # Withdrawn: the open offer is withdrawn and its provider told.
    with world.engine.begin() as conn:
        service.withdraw(conn, world.officer, request_id, "care no longer needed", now=later)
    assert world.request_row(request_id)["status"] == "withdrawn"
    assert open_offers(world, request_id) == []
    with world.engine.begin() as conn, pytest.raises(Conflict):
        service.withdraw(conn, world.officer, request_id, "again", now=later)


def test_answers_are_checked(engine: Engine) -> None:
    world = lot_world(engine)
    request_id = world.request(FRIDAY)
    lead_offer = offer_id(world, request_id, world.lead)
    with world.engine.begin() as conn, pytest.raises(Unprocessable, match="needs a note"):
        service.decline(
            conn,
            world.manager(world.lead),
            world.lead,
            lead_offer,
            DeclineReason.OTHER,
            " ",
            now=FRIDAY,
        )
    # Another provider answering the lead's offer finds nothing there.
    other = world.additional[0]
    with world.engine.begin() as conn, pytest.raises(NotFound):
        service.accept(
            conn, world.manager(other), world.lead, lead_offer, horizon_days=1, now=FRIDAY
        )
    with world.engine.begin() as conn, pytest.raises(NotFound):
        service.accept(conn, world.manager(other), other, lead_offer, horizon_days=1, now=FRIDAY)
    # An administrator or the council does not answer for the provider.
    admin = administrator()
    with world.engine.begin() as conn, pytest.raises(Forbidden):
        service.accept(conn, admin, world.lead, lead_offer, horizon_days=1, now=FRIDAY)
    # At the deadline the offer can no longer be accepted, even before a pass expires it.
    with world.engine.begin() as conn, pytest.raises(Conflict, match="expired"):
        service.accept(
            conn, world.manager(world.lead), world.lead, lead_offer, horizon_days=1, now=TUESDAY
        )
    assert world.request_row(request_id)["status"] == "open"


def test_a_provider_reads_only_its_own_part(engine: Engine) -> None:
    world = lot_world(engine)
    request_id = world.request(FRIDAY)
    decline(world, request_id, world.lead, FRIDAY + timedelta(minutes=1))
    a1 = world.additional[0]
    with world.engine.begin() as conn:
        mine = reads.request_view(conn, world.manager(a1), request_id, now=FRIDAY)
        council = reads.request_view(conn, world.officer, request_id, now=FRIDAY)
    assert [o.provider_id for o in mine.offers] == [a1]
    assert mine.cascade == [] and {h.provider_id for h in mine.history} == {a1}
    assert [o.provider_id for o in council.offers] == [world.lead, a1]
    assert [s.state for s in council.cascade] == ["done", "current", "to_come", "to_come"]
    # A DPS provider has not been offered it: for it, the request does not exist.
    with world.engine.begin() as conn, pytest.raises(NotFound):
        reads.request_view(conn, world.manager(world.dps[0]), request_id, now=FRIDAY)
    # Nor for another council's officer.
    stranger = officer("LA-elsewhere")
    with world.engine.begin() as conn, pytest.raises(NotFound):
        reads.request_view(conn, stranger, request_id, now=FRIDAY)


def test_a_request_for_another_councils_person_or_lot_is_refused(engine: Engine) -> None:
    world = lot_world(engine)
    other = lot_world(engine)
    home = other.add_home()
    details = service.RequestDetails(
        council_id=world.council_id,
        request_ref=None,
        service_user_id=home,
        lot_id=world.lot_id,
        start_date=FRIDAY.date(),
        end_date=None,
        visits=(),
        notes="",
    )
    with engine.begin() as conn, pytest.raises(Unprocessable, match="has no service user"):
        service.create_request(conn, world.officer, details, now=FRIDAY)
    mine = world.add_home()
    wrong_lot = service.RequestDetails(
        **{**details.__dict__, "service_user_id": mine, "lot_id": other.lot_id}
    )
    with engine.begin() as conn, pytest.raises(Unprocessable, match="has no lot"):
        service.create_request(conn, world.officer, wrong_lot, now=FRIDAY)
    no_visits = service.RequestDetails(**{**details.__dict__, "service_user_id": mine})
    with engine.begin() as conn, pytest.raises(Unprocessable, match="no visits"):
        service.create_request(conn, world.officer, no_visits, now=FRIDAY)


def test_the_councils_setting_applies_to_new_offers(engine: Engine) -> None:
    world = lot_world(engine)
    world.set_policy(Policy(response_working_hours=2))
    request_id = world.request(FRIDAY)
    assert open_offers(world, request_id)[0][2] == FRIDAY + timedelta(hours=2)
