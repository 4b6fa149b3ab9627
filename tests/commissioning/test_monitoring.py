"""The monitoring figures on a hand-computed example (docs/service-requests.md, "Monitoring")."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from commissioning import reports, service
from commissioning.model import LONDON, DeclineReason, LotRole
from commissioning.monitoring import RequestFacts, lot_figures
from tests.commissioning.support import MORNING, TEA, lot_world


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=UTC)


NOW = at(31, 12)
FACTS = [
    # North 1: the lead accepted within 4 hours; 45 min x 2 carers x 7 days = 10.5 h a week.
    RequestFacts("N", at(2, 9), True, True, at(2, 13), LotRole.LEAD, None, 10.5),
    # North 2: the lead declined, the first additional provider accepted after 24 hours.
    RequestFacts(
        "N", at(3, 10), True, False, at(4, 10), LotRole.ADDITIONAL, None, 5.0, ("no_capacity",)
    ),
    # North 3: lead expired, A1 declined, A2 expired, a DPS provider accepted after exactly 7
    # days: placed within the 7 days, so not unplaced.
    RequestFacts(
        "N",
        at(5, 8),
        True,
        False,
        at(12, 8),
        LotRole.DPS,
        None,
        3.5,
        ("visit_times_not_possible",),
    ),
    # North 4: declined by the lead and still unplaced 25 days later.
    RequestFacts("N", at(6, 9), True, False, None, None, None, 7.0, ("no_capacity",)),
    # North 5: made three days ago: cannot be unplaced after seven days yet.
    RequestFacts("N", at(28, 9), True, False, None, None, None, 7.0),
    # North 6: withdrawn the next day: not unplaced.
    RequestFacts("N", at(9, 9), True, False, None, None, at(10, 9), 2.0),
    # South 1: a lot without a lead; an additional provider accepted after 12 hours.
    RequestFacts("S", at(10, 9), False, False, at(10, 21), LotRole.ADDITIONAL, None, 7.0),
]


def test_figures_per_lot_and_in_total() -> None:
    east, north, south, total = lot_figures(
        FACTS, lots=["E", "N", "S"], unplaced_after=timedelta(days=7), now=NOW
    )
    assert east.requests_made == 0 and east.lead_in_time_share is None
    assert east.median_hours_to_accept is None

    assert north.requests_made == 6
    assert (north.offered_to_lead, north.lead_accepted_in_time) == (6, 1)
    assert north.lead_in_time_share == 1 / 6
    assert north.placed == 3
    assert north.median_hours_to_accept == 24.0  # of 4, 24 and 168 hours
    assert north.unplaced_after_n_days == 1
    assert north.weekly_hours == {
        LotRole.LEAD: 10.5,
        LotRole.ADDITIONAL: 5.0,
        LotRole.DPS: 3.5,
    }
    assert north.declines["no_capacity"] == 2
    assert north.declines["visit_times_not_possible"] == 1
    assert sum(north.declines.values()) == 3

    assert south.lead_in_time_share is None  # nobody was offered as lead
    assert south.median_hours_to_accept == 12.0

    assert total.lot_id is None
    assert total.requests_made == 7 and total.placed == 4
    assert total.median_hours_to_accept == 18.0  # of 4, 12, 24 and 168 hours
    assert total.weekly_hours[LotRole.ADDITIONAL] == 12.0
    assert total.unplaced_after_n_days == 1


def test_unplaced_after_n_days_depends_on_n() -> None:
    *_, total = lot_figures(FACTS, lots=[], unplaced_after=timedelta(days=2), now=NOW)
    # After two days: North 3 (placed after 7 days) and North 4 are unplaced; North 5 was made
    # three days ago and is still open, so it counts too.
    assert total.unplaced_after_n_days == 3


def test_the_report_from_the_database_on_a_hand_computed_week(engine: Engine) -> None:
    world = lot_world(engine)
    a1 = world.additional[0]
    d2 = world.dps[1]

    def mon(hour: int, day: int = 2, minute: int = 0) -> datetime:
        return datetime(2026, 3, day, hour, minute, tzinfo=LONDON)

    def answer(request_id: int, provider: str, now: datetime, reason: str | None = None) -> None:
        offer = next(
            o["id"]
            for o in world.offers(request_id)
            if o["provider_id"] == provider and o["status"] == "open"
        )
        with engine.begin() as conn:
            if reason is None:
                service.accept(
                    conn, world.manager(provider), provider, offer, horizon_days=1, now=now
                )
            else:
                service.decline(
                    conn,
                    world.manager(provider),
                    provider,
                    offer,
                    DeclineReason(reason),
                    "",
                    now=now,
                )

    def tick(now: datetime) -> None:
        with engine.begin() as conn:
            service.advance(conn, now=now)

    # R1: the lead accepts after 2 hours (10.5 hours a week).
    r1 = world.request(mon(9), visits=(MORNING,))
    answer(r1, world.lead, mon(11))
    # R2: the lead declines, A1 accepts 3 hours after the request (2.5 hours a week).
    r2 = world.request(mon(10), visits=(TEA,))
    answer(r2, world.lead, mon(10, minute=30), "no_capacity")
    answer(r2, a1, mon(13))
    # R3: the lead lets it expire, A1 declines, A2 lets it expire, D2 accepts 50 hours in.
    r3 = world.request(mon(12), visits=(MORNING,))
    tick(mon(12, day=3))
    answer(r3, a1, mon(13, day=3), "risk_to_staff")
    tick(mon(13, day=4))
    answer(r3, d2, mon(14, day=4))
    # R4: withdrawn after an hour.
    r4 = world.request(mon(13), visits=(TEA,))
    with engine.begin() as conn:
        service.withdraw(conn, world.officer, r4, "moved to residential care", now=mon(14))
    # R5: made on Tuesday, declined by the lead, still not placed.
    r5 = world.request(mon(9, day=3), visits=(TEA,))
    answer(r5, world.lead, mon(10, day=3), "no_capacity")
    assert {world.request_row(r)["status"] for r in (r1, r2, r3)} == {"placed"}

    friday = mon(12, day=6)
    with engine.begin() as conn:
        one_day = reports.monitoring(
            conn,
            world.officer,
            None,
            date(2026, 3, 2),
            date(2026, 3, 3),
            unplaced_after_days=1,
            now=friday,
        )
        week = reports.monitoring(
            conn,
            world.officer,
            None,
            date(2026, 3, 2),
            date(2026, 3, 3),
            unplaced_after_days=7,
            now=friday,
        )
        monday_only = reports.monitoring(
            conn,
            world.officer,
            None,
            date(2026, 3, 2),
            date(2026, 3, 2),
            unplaced_after_days=7,
            now=friday,
        )
    lot, total = one_day.lots
    assert lot.lot_id == world.lot_id and total.lot_id is None
    assert (lot.requests_made, lot.offered_to_lead, lot.lead_accepted_in_time) == (5, 5, 1)
    assert lot.lead_in_time_share == 0.2
    assert lot.placed == 3
    assert lot.median_hours_to_accept == 3.0  # of 2, 3 and 50 hours
    # Not placed within a day of being made: R3 (placed after 50 hours) and R5.
    assert lot.unplaced_after_n_days == 2
    assert week.lots[0].unplaced_after_n_days == 0  # a week has not passed for any of them
    assert (lot.weekly_hours_lead, lot.weekly_hours_additional, lot.weekly_hours_dps) == (
        10.5,
        2.5,
        10.5,
    )
    assert {k: v for k, v in lot.declines.items() if v} == {"no_capacity": 2, "risk_to_staff": 1}
    assert monday_only.lots[0].requests_made == 4

    rows = list(csv.DictReader(io.StringIO(reports.monitoring_csv(one_day))))
    assert tuple(rows[0]) == reports.MONITORING_COLUMNS
    assert [r["lot_ref"] for r in rows] == [world.lot_id, "ALL"]
    assert rows[0]["lead_in_time_share"] == "0.2000" and rows[0]["median_hours_to_accept"] == "3.00"
    assert rows[0]["declined_no_capacity"] == "2" and rows[0]["unplaced_after_n_days"] == "2"
