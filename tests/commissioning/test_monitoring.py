"""The monitoring figures on a hand-computed example (docs/service-requests.md, "Monitoring")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commissioning.model import LotRole
from commissioning.monitoring import RequestFacts, lot_figures


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
