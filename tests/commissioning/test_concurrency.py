"""Concurrent acceptances on real, concurrent PostgreSQL transactions: exactly one wins."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, text

from commissioning import service
from commissioning.model import LONDON, CascadeMode, DeclineReason
from core.errors import Conflict, DomainError
from tests.commissioning.support import LotWorld, lot_world
from tests.support.polling import wait_until

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=LONDON)


def offers_open(world: LotWorld, request_id: int) -> dict[str, int]:
    return {o["provider_id"]: o["id"] for o in world.offers(request_id) if o["status"] == "open"}


def accept_in_thread(
    world: LotWorld, provider: str, offer: int, outcomes: list[object], pids: list[int]
) -> Callable[[], None]:
    def run() -> None:
        try:
            with world.engine.begin() as conn:
                pids.append(conn.execute(text("select pg_backend_pid()")).scalar_one())
                outcomes.append(
                    service.accept(
                        conn, world.manager(provider), provider, offer, horizon_days=7, now=NOW
                    )
                )
        except DomainError as exc:
            outcomes.append(exc)

    return run


def waiting_on_a_lock(engine: Engine, pid: int) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(
                text("select wait_event_type from pg_stat_activity where pid = :p"), {"p": pid}
            ).scalar_one_or_none()
            == "Lock"
        )


def all_at_once(engine: Engine) -> tuple[LotWorld, int, dict[str, int]]:
    world = lot_world(engine, additional_mode=CascadeMode.ALL_AT_ONCE)
    request_id = world.request(NOW)
    lead_offer = offers_open(world, request_id)[world.lead]
    with engine.begin() as conn:
        service.decline(
            conn,
            world.manager(world.lead),
            world.lead,
            lead_offer,
            DeclineReason.NO_CAPACITY,
            "",
            now=NOW,
        )
    return world, request_id, offers_open(world, request_id)


def test_a_second_acceptance_waits_for_the_first_and_then_loses(engine: Engine) -> None:
    world, request_id, offers = all_at_once(engine)
    first, second = world.additional
    # The first provider's acceptance holds its transaction open...
    conn = engine.connect()
    transaction = conn.begin()
    package_id = service.accept(
        conn, world.manager(first), first, offers[first], horizon_days=7, now=NOW
    )
    # ...while the second provider accepts its own offer of the same request, and must wait.
    outcomes: list[object] = []
    pids: list[int] = []
    racer = threading.Thread(target=accept_in_thread(world, second, offers[second], outcomes, pids))
    racer.start()
    wait_until(lambda: pids and waiting_on_a_lock(engine, pids[0]), timeout_s=30)
    transaction.commit()
    conn.close()
    racer.join(timeout=60)
    assert not racer.is_alive()
    [loser] = outcomes
    assert isinstance(loser, Conflict) and loser.code == "offer_closed"
    row = world.request_row(request_id)
    assert (row["status"], row["placed_with"]) == ("placed", first)
    statuses = {o["provider_id"]: o["status"] for o in world.offers(request_id)}
    assert statuses[first] == "accepted" and statuses[second] == "placed_elsewhere"
    with engine.connect() as conn:
        packages = (
            conn.execute(
                text("select id from care_package where request_id = :r"), {"r": request_id}
            )
            .scalars()
            .all()
        )
    assert packages == [package_id]


def race(world: LotWorld, offers: dict[str, int]) -> list[object]:
    """Each provider accepts its offer twice (a double click from two sessions), all released
    at once by a barrier; the outcomes, in no particular order."""
    attempts = [(provider, offer) for provider, offer in offers.items() for _ in range(2)]
    barrier = threading.Barrier(len(attempts))
    outcomes: list[object] = []
    pids: list[int] = []

    def racer(provider: str, offer: int) -> None:
        barrier.wait(timeout=30)
        accept_in_thread(world, provider, offer, outcomes, pids)()

    threads = [threading.Thread(target=racer, args=attempt) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == len(attempts)
    return outcomes


def test_many_acceptances_at_once_place_the_request_once(engine: Engine) -> None:
    for _ in range(3):
        world, request_id, offers = all_at_once(engine)
        outcomes = race(world, offers)
        won = [o for o in outcomes if isinstance(o, int)]
        lost = [o for o in outcomes if isinstance(o, Conflict)]
        assert len(won) == 1 and len(lost) == len(outcomes) - 1, outcomes
        with engine.connect() as conn:
            accepted = conn.execute(
                text(
                    "select count(*) from service_offer where request_id = :r "
                    "and status = 'accepted'"
                ),
                {"r": request_id},
            ).scalar_one()
            packages = conn.execute(
                text("select count(*) from care_package where request_id = :r"),
                {"r": request_id},
            ).scalar_one()
        assert (accepted, packages) == (1, 1)


def test_an_expiry_pass_does_not_wait_for_an_acceptance_in_progress(engine: Engine) -> None:
    world, request_id, offers = all_at_once(engine)
    first = world.additional[0]
    conn = engine.connect()
    transaction = conn.begin()
    service.accept(conn, world.manager(first), first, offers[first], horizon_days=7, now=NOW)
    # A pass run after the deadline skips the request being accepted instead of waiting for it
    # (the lock timeout turns a wait into a failure rather than a hung test).
    with engine.begin() as other:
        other.execute(text("set local lock_timeout = '10s'"))
        service.advance(other, now=NOW + timedelta(days=30))
    transaction.commit()
    conn.close()
    assert world.request_row(request_id)["status"] == "placed"
    statuses = {o["provider_id"]: o["status"] for o in world.offers(request_id)}
    assert statuses[world.additional[1]] == "placed_elsewhere"
