"""A package's weekly pattern as planned visits: one per slot and day, refs stable across
versions, nothing planned before the moment of planning, changes rewrite only what is to come."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from commissioning.model import LONDON, PackageChange, PackageVersion, VisitSlot
from commissioning.planning import planned_between, replan, schedule_csv, version_on

MORNING = VisitSlot(frozenset(range(7)), time(7, 30), 45, 2, "personal care")
TEA = VisitSlot(frozenset(range(5)), time(17, 0), 30, 1, "meal")
LATE_TEA = VisitSlot(frozenset(range(5)), time(17, 30), 30, 1, "meal")
LONGER_MORNING = VisitSlot(frozenset(range(7)), time(7, 30), 60, 2, "personal care")
MONDAY = date(2026, 3, 2)


def version(
    number: int, effective: date, *slots: VisitSlot, end: date | None = None
) -> PackageVersion:
    return PackageVersion(
        package_id=1,
        version=number,
        effective_from=effective,
        start_date=MONDAY,
        end_date=end,
        visits=slots,
        reason=PackageChange.ACCEPTED if number == 1 else PackageChange.CHANGED,
        made_by="officer",
        made_at=datetime(2026, 3, 1, tzinfo=UTC),
        superseded_at=None,
    )


def test_a_week_of_a_two_slot_pattern() -> None:
    v1 = version(1, MONDAY, MORNING, TEA)
    planned = planned_between(
        7, [v1], MONDAY, date(2026, 3, 8), after=datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert len(planned) == 7 + 5
    first = planned[0]
    assert first.visit_ref == "SR7-20260302-0730"
    assert first.planned_start == datetime(2026, 3, 2, 7, 30, tzinfo=LONDON)
    assert (first.minutes, first.carers, first.service_type) == (45, 2, "personal care")
    assert [p.visit_ref for p in planned if p.planned_start.date() == date(2026, 3, 7)] == [
        "SR7-20260307-0730"
    ]


def test_nothing_is_planned_before_the_start_after_the_end_or_before_now() -> None:
    v1 = version(1, MONDAY, MORNING, end=date(2026, 3, 4))
    accepted = datetime(2026, 3, 2, 9, 0, tzinfo=LONDON)  # after Monday's 07:30 visit
    planned = planned_between(7, [v1], date(2026, 2, 28), date(2026, 3, 8), after=accepted)
    assert [p.visit_ref for p in planned] == ["SR7-20260303-0730", "SR7-20260304-0730"]


def test_a_change_keeps_the_past_and_rewrites_what_is_to_come() -> None:
    v1 = version(1, MONDAY, MORNING, TEA)
    v2 = version(2, date(2026, 3, 4), LONGER_MORNING, LATE_TEA)
    now = datetime(2026, 3, 3, 12, 0, tzinfo=LONDON)
    planned, cancelled = replan(7, [v1], [v1, v2], date(2026, 3, 4), date(2026, 3, 8), now=now)
    # Wednesday to Sunday: five mornings (now an hour long, same refs), three late teas.
    assert next(p.visit_ref for p in planned if p.minutes == 60) == "SR7-20260304-0730"
    assert len([p for p in planned if p.minutes == 60]) == 5
    assert [p.visit_ref for p in planned if p.service_type == "meal"] == [
        "SR7-20260304-1730",
        "SR7-20260305-1730",
        "SR7-20260306-1730",
    ]
    assert [c.visit_ref for c in cancelled] == [
        "SR7-20260304-1700",
        "SR7-20260305-1700",
        "SR7-20260306-1700",
    ]


def test_the_latest_version_made_wins_from_its_date() -> None:
    v1 = version(1, MONDAY, MORNING)
    v2 = version(2, date(2026, 3, 10), TEA)  # a change set for the 10th...
    v3 = version(3, date(2026, 3, 5), LATE_TEA)  # ...overridden by one from the 5th
    assert version_on([v1, v2, v3], date(2026, 3, 4)) == v1
    assert version_on([v1, v2, v3], date(2026, 3, 12)) == v3
    assert version_on([v1, v2, v3], date(2026, 3, 1)) is None  # before the package starts


def test_the_schedule_file_is_the_councils_schedule_format() -> None:
    v1 = version(1, MONDAY, MORNING)
    planned = planned_between(7, [v1], MONDAY, MONDAY, after=datetime(2026, 3, 1, tzinfo=UTC))
    content = schedule_csv("SU1", "P1", planned, planned)
    assert content.splitlines() == [
        "visit_ref,service_user_ref,provider_ref,planned_start,planned_minutes,"
        "carers_required,service_type,status",
        "SR7-20260302-0730,SU1,P1,2026-03-02T07:30:00+00:00,45,2,personal care,planned",
        "SR7-20260302-0730,SU1,P1,2026-03-02T07:30:00+00:00,45,2,personal care,cancelled",
    ]
