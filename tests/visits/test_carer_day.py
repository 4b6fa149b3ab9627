"""The carer's day on hand-computed days: travel, distance, unpaid gaps and pay against the
floor; across midnight and both clock changes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from visits.carer_day.days import day_report
from visits.carer_day.pay import (
    DatedRate,
    PayTableError,
    ProviderRate,
    check_pay,
    in_force,
    parse_floor_table,
    pounds_to_pence,
)
from visits.carer_day.rules import CarerDay, CarerStay, DayRules, carer_days
from visits.days import LONDON

RULES = DayRules()  # 60-minute travel gaps, 20 km/h across longer ones
# Three homes on one meridian: a degree of latitude is 111.195 km on the haversine's sphere.
A = (52.000, 1.0)
B = (52.018, 1.0)  # 2.0015 km north of A
C = (52.035, 1.0)  # 1.8903 km north of B, 3.8918 km north of A
KM_PER_DEGREE = 6371.0 * 3.141592653589793 / 180
# The default ECM_PAY_FLOOR_TABLE's last two rows: the floor rises on 1 April 2026.
FLOOR = (DatedRate(date(2025, 4, 1), 1221), DatedRate(date(2026, 4, 1), 1271))


def stay(
    home: tuple[float, float] | None,
    check_in: datetime | None,
    check_out: datetime | None,
    carer: str = "C1",
) -> CarerStay:
    lat, lon = home if home else (None, None)
    return CarerStay(
        uuid.uuid4(),
        carer,
        f"SU{home}" if home else None,
        check_in,
        check_out,
        lat,
        lon,
        "landline",
    )


def utc(day: str, hh_mm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hh_mm}:00+00:00")


def london(day: str, hh_mm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hh_mm}:00").replace(tzinfo=LONDON)


def minutes(span: timedelta) -> float:
    return span.total_seconds() / 60


def one_day(days: list[CarerDay], day: date, carer: str = "C1") -> CarerDay:
    [found] = [d for d in days if d.day == day and d.carer_id == carer]
    return found


def test_a_winter_day_by_hand() -> None:
    # 15 January: London is on GMT, so these are London times too.
    d = "2026-01-15"
    stays = [
        stay(A, utc(d, "07:00"), utc(d, "07:30")),
        stay(B, utc(d, "07:45"), utc(d, "08:30")),
        stay(C, utc(d, "08:40"), utc(d, "09:00")),
        stay(A, utc(d, "12:00"), utc(d, "12:30")),
    ]
    [day] = carer_days(stays, RULES)
    assert (day.day, day.visits, day.open_stays) == (date(2026, 1, 15), 4, 0)
    assert minutes(day.contact) == 30 + 45 + 20 + 30
    ab, bc, ca = day.legs
    # Up to an hour between visits is all travel.
    assert (minutes(ab.gap), minutes(ab.travel), minutes(ab.unpaid)) == (15, 15, 0)
    assert (minutes(bc.gap), minutes(bc.travel), minutes(bc.unpaid)) == (10, 10, 0)
    # Three hours: the journey (3.89 km at 20 km/h = 11.7, so 12 minutes), the rest unpaid.
    assert (minutes(ca.gap), minutes(ca.travel), minutes(ca.unpaid)) == (180, 12, 168)
    assert ab.distance_km == pytest.approx(0.018 * KM_PER_DEGREE)
    assert ab.distance_km == pytest.approx(2.0015, abs=1e-4)
    assert bc.distance_km == pytest.approx(1.8903, abs=1e-4)
    assert ca.distance_km == pytest.approx(3.8918, abs=1e-4)
    assert ab.speed_kmh == pytest.approx(2.0015 * 4, abs=1e-3)  # 2 km in a quarter hour
    assert ca.speed_kmh == pytest.approx(3.8918 / 3, abs=1e-4)
    assert minutes(day.travel) == 37 and minutes(day.unpaid) == 168
    assert day.distance_km == pytest.approx(7.7836, abs=1e-3)
    assert (day.first_check_in, day.last_check_out) == (utc(d, "07:00"), utc(d, "12:30"))

    floor = DatedRate(date(2025, 4, 1), 1221)  # GBP 12.21 until April 2026
    # GBP 11.50 for contact time only: 125/60 h x 1150 = 2395.83p; the floor is 162/60 h
    # (contact plus travel) x 1221 = 3296.70p.
    unpaid_travel = check_pay(
        day.contact, day.travel, ProviderRate(date(2025, 1, 1), 1150, False), floor
    )
    assert (unpaid_travel.pay_pence, unpaid_travel.floor_pence) == (2396, 3297)
    assert unpaid_travel.below_floor and unpaid_travel.shortfall_pence == 901
    assert unpaid_travel.effective_pence_per_hour == 887  # 2396p over 2.7 hours
    # Paying travel at 11.50: 2.7 h x 1150 = 3105p, still short of the floor.
    paid_travel = check_pay(
        day.contact, day.travel, ProviderRate(date(2025, 1, 1), 1150, True), floor
    )
    assert (paid_travel.pay_pence, paid_travel.below_floor) == (3105, True)
    # GBP 12.50 with travel paid covers it (3375p); without travel it does not (2604p).
    good = check_pay(day.contact, day.travel, ProviderRate(date(2025, 1, 1), 1250, True), floor)
    assert (good.pay_pence, good.below_floor, good.shortfall_pence) == (3375, False, 0)
    contact_only = check_pay(
        day.contact, day.travel, ProviderRate(date(2025, 1, 1), 1250, False), floor
    )
    assert (contact_only.pay_pence, contact_only.below_floor) == (2604, True)


def test_an_open_stay_counts_as_a_visit_without_contact_time() -> None:
    d = "2026-01-15"
    stays = [
        stay(A, utc(d, "07:00"), utc(d, "07:30")),
        stay(B, utc(d, "07:40"), None),  # the phone died: no check-out
        stay(C, utc(d, "08:30"), utc(d, "09:00")),
    ]
    [day] = carer_days(stays, RULES)
    assert (day.visits, day.open_stays, minutes(day.contact)) == (3, 1, 60)
    # The way passes over the open stay: from A's check-out to C's check-in.
    [leg] = day.legs
    assert (leg.from_stay.check_out, leg.to_stay.check_in) == (utc(d, "07:30"), utc(d, "08:30"))


def test_overlapping_stays_count_their_time_once() -> None:
    d = "2026-01-15"
    stays = [stay(A, utc(d, "07:00"), utc(d, "08:00")), stay(B, utc(d, "07:30"), utc(d, "08:30"))]
    [day] = carer_days(stays, RULES)
    assert minutes(day.contact) == 90
    [leg] = day.legs
    assert (minutes(leg.gap), minutes(leg.travel), minutes(leg.unpaid), leg.speed_kmh) == (
        -30,
        0,
        0,
        None,
    )


def test_homes_without_coordinates_count_at_most_an_hour_of_travel_in_a_break() -> None:
    d = "2026-01-15"
    stays = [
        stay(None, utc(d, "07:00"), utc(d, "07:30")),
        stay(A, utc(d, "11:00"), utc(d, "11:30")),
    ]
    [day] = carer_days(stays, RULES)
    [leg] = day.legs
    assert (leg.distance_km, minutes(leg.travel), minutes(leg.unpaid)) == (None, 60, 150)


def test_across_midnight() -> None:
    first, second, third = "2026-01-15", "2026-01-16", "2026-01-17"
    stays = [
        stay(A, utc(first, "22:30"), utc(first, "23:20")),
        # Across midnight: the whole stay belongs to the day it started.
        stay(B, utc(first, "23:40"), utc(second, "00:25")),
        # Straight on, 15 minutes later: travel into the second day's first visit.
        stay(C, utc(second, "00:40"), utc(second, "01:10")),
        stay(A, utc(second, "07:00"), utc(second, "07:30")),
        # A day later: the way from home to the first visit is a commute, not counted.
        stay(B, utc(third, "09:00"), utc(third, "09:30")),
    ]
    days = carer_days(stays, RULES)
    night = one_day(days, date(2026, 1, 15))
    assert (night.visits, minutes(night.contact), minutes(night.travel)) == (2, 50 + 45, 20)
    assert night.last_check_out == utc(second, "00:25")
    morning = one_day(days, date(2026, 1, 16))
    assert morning.visits == 2 and minutes(morning.contact) == 60
    into, long_break = morning.legs
    assert (into.left_at, into.arrived_at, minutes(into.travel)) == (
        utc(second, "00:25"),
        utc(second, "00:40"),
        15,
    )
    assert (minutes(long_break.gap), minutes(long_break.travel), minutes(long_break.unpaid)) == (
        350,
        12,
        338,
    )
    assert minutes(morning.travel) == 27
    later = one_day(days, date(2026, 1, 17))
    assert later.legs == () and minutes(later.travel) == 0


def test_the_spring_clock_change() -> None:
    # 29 March 2026: at 01:00 GMT the clocks go forward to 02:00 BST; the day has 23 hours.
    d = "2026-03-29"
    stays = [
        stay(A, london(d, "00:50"), london(d, "02:10")),  # 00:50 UTC to 01:10 UTC
        stay(B, london(d, "02:30"), london(d, "03:00")),
        stay(C, london(d, "23:30"), london("2026-03-30", "00:10")),
    ]
    [day] = carer_days(stays, RULES)
    assert day.day == date(2026, 3, 29)
    # 20 + 30 + 40 minutes of real time, though the wall clock of the first says 80.
    assert minutes(day.contact) == 90
    first_leg, long_break = day.legs
    assert (minutes(first_leg.gap), minutes(first_leg.travel)) == (20, 20)
    # 03:00 BST to 23:30 BST is 20 h 30 min; B to C is 1.89 km at 20 km/h: 5.7, so 6 minutes.
    assert (minutes(long_break.gap), minutes(long_break.travel)) == (1230, 6)
    assert minutes(day.travel) == 26

    # Pay on the real 116 minutes worked (90 contact + 26 travel), not the wall clock's 176.
    # The floor of 29 March is still GBP 12.21: 116/60 h x 1221 = 2360.6p -> 2361p. Contact
    # only at GBP 11.50: 90/60 h x 1150 = 1725p, short by 636p, 892p per hour worked.
    contact_only = ProviderRate(date(2025, 1, 1), 1150, False)
    report = day_report(day, "Ann", [contact_only], FLOOR)
    assert report.floor == FLOOR[0]
    assert report.pay is not None
    assert (report.pay.pay_pence, report.pay.floor_pence) == (1725, 2361)
    assert (report.pay.shortfall_pence, report.pay.effective_pence_per_hour) == (636, 892)
    assert report.pay.worked == timedelta(minutes=116)


def test_the_autumn_clock_change() -> None:
    # 25 October 2026: at 02:00 BST the clocks go back to 01:00 GMT; the day has 25 hours.
    d = "2026-10-25"
    check_in = datetime(2026, 10, 25, 1, 40, tzinfo=LONDON)  # BST: 00:40 UTC
    check_out = datetime(2026, 10, 25, 1, 20, tzinfo=LONDON, fold=1)  # GMT: 01:20 UTC
    assert check_in.astimezone(UTC).hour == 0 and check_out.astimezone(UTC).hour == 1
    stays = [
        stay(A, check_in, check_out),  # 40 minutes, though the wall clock goes backwards
        stay(B, london(d, "23:00"), london(d, "23:45")),
    ]
    [day] = carer_days(stays, RULES)
    assert (day.day, minutes(day.contact)) == (date(2026, 10, 25), 40 + 45)
    [leg] = day.legs
    # From 01:20 GMT to 23:00 GMT: 21 h 40 min, a break holding a 7-minute journey (2.0 km).
    assert (minutes(leg.gap), minutes(leg.travel), minutes(leg.unpaid)) == (1300, 7, 1293)

    # Pay on the real 92 minutes worked (85 contact + 7 travel), though the first stay's wall
    # clock runs backwards. The floor of 25 October 2026 is GBP 12.71: 92/60 h x 1271 =
    # 1948.87p -> 1949p.
    travel_paid = ProviderRate(date(2026, 4, 1), 1300, True)  # 92/60 h x 1300 = 1993.33p
    paid = day_report(day, "Ann", [travel_paid], FLOOR).pay
    assert paid is not None and paid.floor_pence_per_hour == 1271
    assert (paid.pay_pence, paid.floor_pence, paid.below_floor) == (1993, 1949, False)
    assert paid.effective_pence_per_hour == 1300
    contact_only = ProviderRate(date(2026, 4, 1), 1300, False)  # 85/60 h x 1300 = 1841.67p
    unpaid = day_report(day, "Ann", [contact_only], FLOOR).pay
    assert unpaid is not None
    assert (unpaid.pay_pence, unpaid.floor_pence, unpaid.shortfall_pence) == (1842, 1949, 107)


def test_pay_across_midnight_on_the_night_the_floor_rises() -> None:
    # 31 March into 1 April 2026 (BST): the floor rises from GBP 12.21 to 12.71 at midnight,
    # and the provider raises its rate and starts paying travel the same day.
    last, first = "2026-03-31", "2026-04-01"
    stays = [
        stay(A, london(last, "22:30"), london(last, "23:20")),
        # Across midnight: the stay, and its pay, belong to the day it started.
        stay(B, london(last, "23:40"), london(first, "00:25")),
        stay(C, london(first, "00:40"), london(first, "01:10")),
        stay(A, london(first, "07:00"), london(first, "07:30")),
    ]
    rates = [
        ProviderRate(date(2025, 4, 1), 1200, False),
        ProviderRate(date(2026, 4, 1), 1300, True),
    ]
    days = carer_days(stays, RULES)
    night = day_report(one_day(days, date(2026, 3, 31)), "Ann", rates, FLOOR)
    # 50 + 45 minutes of contact, 20 of travel (A to B): 115 minutes worked. The floor of
    # 31 March: 115/60 h x 1221 = 2340.25p -> 2340p. Contact only at GBP 12.00: 95/60 h x
    # 1200 = 1900p, short by 440p.
    assert (minutes(night.day.contact), minutes(night.day.travel)) == (95, 20)
    assert night.pay is not None and night.floor == FLOOR[0]
    assert (night.pay.pay_pence, night.pay.floor_pence, night.pay.shortfall_pence) == (
        1900,
        2340,
        440,
    )
    assert night.pay.effective_pence_per_hour == 991  # 1900p over 115/60 h = 991.3
    morning = day_report(one_day(days, date(2026, 4, 1)), "Ann", rates, FLOOR)
    # 30 + 30 minutes of contact; travel 15 (from the night's last check-out, 00:25, to
    # 00:40) and 12 (C to A, 3.89 km at 20 km/h, in a break of 5 h 50 min): 87 minutes worked.
    # The new floor: 87/60 h x 1271 = 1842.95p -> 1843p. The new rate with travel:
    # 87/60 h x 1300 = 1885p, above it.
    assert (minutes(morning.day.contact), minutes(morning.day.travel)) == (60, 27)
    assert morning.pay is not None and morning.floor == FLOOR[1]
    assert morning.rate == rates[1]
    assert (morning.pay.pay_pence, morning.pay.floor_pence, morning.pay.below_floor) == (
        1885,
        1843,
        False,
    )


def test_days_of_several_carers_are_kept_apart() -> None:
    d = "2026-01-15"
    stays = [
        stay(A, utc(d, "07:00"), utc(d, "07:30"), carer="C1"),
        stay(B, utc(d, "07:40"), utc(d, "08:00"), carer="C2"),
        stay(C, utc(d, "08:00"), utc(d, "08:30"), carer="C1"),
    ]
    days = carer_days(stays, RULES)
    assert [(x.carer_id, x.visits, len(x.legs)) for x in days] == [("C1", 2, 1), ("C2", 1, 0)]


def test_the_pay_floor_table_is_dated() -> None:
    table = parse_floor_table("2026-04-01=12.71, 2025-04-01=12.21,2024-04-01=11.44")
    assert [(r.effective_from, r.pence_per_hour) for r in table] == [
        (date(2024, 4, 1), 1144),
        (date(2025, 4, 1), 1221),
        (date(2026, 4, 1), 1271),
    ]
    assert in_force(table, date(2026, 3, 31)) == DatedRate(date(2025, 4, 1), 1221)
    assert in_force(table, date(2026, 4, 1)) == DatedRate(date(2026, 4, 1), 1271)
    assert in_force(table, date(2024, 3, 31)) is None
    assert pounds_to_pence("12.705") == 1271
    for bad in ("2026-04-01", "2026-13-01=12", "2026-04-01=-1", "2026-04-01=1,2026-04-01=2"):
        with pytest.raises(PayTableError):
            parse_floor_table(bad)
