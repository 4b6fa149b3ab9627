"""The carer's day from built visits in PostgreSQL: a provider's carers, a council's anonymised
aggregates, and the CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from core.settings import Settings
from tests.visits.support import IN, OUT, CareWorld, build, care_world, store, utc
from visits.carer_day import days as service
from visits.carer_day.days import CarerDayError, DayPolicy
from visits.carer_day.export import carer_days_csv, council_csv
from visits.carer_day.pay import ProviderRate

pytestmark = pytest.mark.integration

DAY = date(2026, 1, 15)


def policy(settings: Settings, **overrides: object) -> DayPolicy:
    return DayPolicy.from_settings(settings.model_copy(update=overrides))


def work(world: CareWorld, engine: Engine, settings: Settings, carers: int = 1) -> list[str]:
    """Each carer works the hand-computed day of test_carer_day.py: four visits at three homes,
    15, 10 and 180 minutes apart."""
    a = world.add_home(52.000, 1.0)
    b = world.add_home(52.018, 1.0)
    c = world.add_home(52.035, 1.0)
    ids = []
    for _ in range(carers):
        handset = world.add_handset()
        for home, start, end in (
            (a, "07:00", "07:30"),
            (b, "07:45", "08:30"),
            (c, "08:40", "09:00"),
            (a, "12:00", "12:30"),
        ):
            store(engine, handset, home, IN, utc(f"2026-01-15T{start}:00"))
            store(engine, handset, home, OUT, utc(f"2026-01-15T{end}:00"))
        ids.append(handset.carer_id)
    build(engine, settings, world, DAY, utc("2026-01-16T00:00:00"))
    return ids


def test_a_providers_carer_days_with_pay_against_the_floor(
    engine: Engine, settings: Settings
) -> None:
    world = care_world(engine)
    [carer_id] = work(world, engine, settings)
    with engine.begin() as conn:
        service.set_rate(conn, world.provider_id, ProviderRate(date(2025, 4, 1), 1150, False), "t")
        [report] = service.provider_days(conn, policy(settings), world.provider_id, DAY, DAY)
    day, pay = report.day, report.pay
    assert (day.carer_id, report.carer_name, day.visits) == (carer_id, "A Carer", 4)
    assert day.contact == timedelta(minutes=125) and day.travel == timedelta(minutes=37)
    assert day.unpaid == timedelta(minutes=168)
    assert pay is not None and report.floor is not None
    assert report.floor.pence_per_hour == 1221  # before April 2026
    assert (pay.pay_pence, pay.floor_pence, pay.below_floor) == (2396, 3297, True)

    with engine.begin() as conn:
        # A rate declared from a later date does not change a past day.
        service.set_rate(conn, world.provider_id, ProviderRate(date(2026, 2, 1), 1400, True), "t")
        [same] = service.provider_days(conn, policy(settings), world.provider_id, DAY, DAY)
        assert same.pay == pay
        # A raise from that day on covers it: 2.7 h x 1250 = 3375p.
        service.set_rate(conn, world.provider_id, ProviderRate(DAY, 1250, True), "t")
        [raised] = service.provider_days(conn, policy(settings), world.provider_id, DAY, DAY)
    assert raised.pay is not None and not raised.pay.below_floor

    [row] = list(csv.DictReader(io.StringIO(carer_days_csv([report]))))
    assert row == {
        "day": "2026-01-15",
        "carer_id": carer_id,
        "carer_name": "A Carer",
        "visits": "4",
        "open_visits": "0",
        "first_check_in": "2026-01-15T07:00:00+00:00",
        "last_check_out": "2026-01-15T12:30:00+00:00",
        "contact_minutes": "125",
        "travel_minutes": "37",
        "unpaid_gap_minutes": "168",
        "distance_km": "7.8",
        "hourly_rate_gbp": "11.50",
        "travel_paid": "no",
        "pay_gbp": "23.96",
        "floor_gbp_per_hour": "12.21",
        "floor_gbp": "32.97",
        "below_floor": "yes",
        "shortfall_gbp": "9.01",
        "effective_gbp_per_hour": "8.87",
    }


def test_without_a_declared_rate_there_is_no_pay_check(engine: Engine, settings: Settings) -> None:
    world = care_world(engine)
    work(world, engine, settings)
    with engine.begin() as conn:
        [report] = service.provider_days(conn, policy(settings), world.provider_id, DAY, DAY)
    assert report.pay is None and report.rate is None
    assert report.day.travel == timedelta(minutes=37)


def test_a_council_sees_providers_not_carers_and_small_ones_withheld(
    engine: Engine, settings: Settings
) -> None:
    world = care_world(engine)
    work(world, engine, settings, carers=3)
    with engine.begin() as conn:
        service.set_rate(conn, world.provider_id, ProviderRate(date(2025, 4, 1), 1150, False), "t")
        [aggregate] = service.council_aggregates(conn, policy(settings), world.council_id, DAY, DAY)
        [withheld] = service.council_aggregates(
            conn, policy(settings, carer_day_min_cell=4), world.council_id, DAY, DAY
        )
    assert aggregate.provider_id == world.provider_id
    assert (aggregate.carer_days, aggregate.days_checked, aggregate.days_below_floor) == (3, 3, 3)
    assert aggregate.below_floor_share == 1.0
    assert (aggregate.contact_minutes, aggregate.travel_minutes) == (3 * 125, 3 * 37)
    # 37 minutes of travel for every 125 minutes of contact: 17.8 per contact hour.
    assert aggregate.travel_minutes_per_contact_hour == pytest.approx(37 / 125 * 60)
    assert withheld.withheld and withheld.carer_days == 3
    assert withheld.below_floor_share is None and withheld.contact_minutes is None
    text = council_csv([aggregate, withheld])
    assert "A Carer" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["below_floor_share"] == "1.000"
    assert rows[0]["travel_minutes_per_contact_hour"] == "17.8"
    assert (rows[1]["withheld"], rows[1]["contact_minutes"]) == ("yes", "")


def test_periods_must_run_forwards_and_not_too_long(engine: Engine, settings: Settings) -> None:
    with engine.begin() as conn:
        for first, last in ((DAY, DAY - timedelta(days=1)), (DAY, DAY + timedelta(days=92))):
            with pytest.raises(CarerDayError):
                service.provider_days(conn, policy(settings), "P-none", first, last)


def test_a_formula_in_a_name_is_not_a_formula_in_the_csv(
    engine: Engine, settings: Settings
) -> None:
    world = care_world(engine)
    work(world, engine, settings)
    with engine.begin() as conn:
        [report] = service.provider_days(conn, policy(settings), world.provider_id, DAY, DAY)
    named = type(report)(report.day, '=HYPERLINK("x")', report.pay, report.rate, report.floor)
    [row] = list(csv.DictReader(io.StringIO(carer_days_csv([named]))))
    assert row["carer_name"] == '\'=HYPERLINK("x")'
