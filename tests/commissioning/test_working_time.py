"""Response deadlines count working hours only: weekends and England and Wales bank holidays
(reconciliation.holidays) are skipped, in London time."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from commissioning.model import LONDON
from commissioning.working_time import is_working_day, response_deadline


def london(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def test_a_weekday_offer_is_due_the_same_time_next_day() -> None:
    assert response_deadline(london(2026, 3, 4, 9, 0), 24) == london(2026, 3, 5, 9, 0)


def test_a_friday_offer_skips_the_weekend_and_a_bank_holiday_monday() -> None:
    # Friday 22 May 2026, 15:00: 9 hours left on Friday; Saturday, Sunday and the spring bank
    # holiday (Monday 25 May) do not count; the other 15 hours run on Tuesday.
    assert not is_working_day(date(2026, 5, 25))
    assert response_deadline(london(2026, 5, 22, 15, 0), 24) == london(2026, 5, 26, 15, 0)


def test_easter_skips_good_friday_and_easter_monday() -> None:
    assert response_deadline(london(2026, 4, 2, 12, 0), 24) == london(2026, 4, 7, 12, 0)


def test_a_weekend_offer_starts_counting_on_monday_morning() -> None:
    assert response_deadline(london(2026, 5, 16, 10, 0), 24) == london(2026, 5, 19, 0, 0)
    assert response_deadline(london(2026, 5, 16, 10, 0), 8) == london(2026, 5, 18, 8, 0)


def test_hours_are_real_hours_across_the_clock_change() -> None:
    # Friday 27 March 2026 at noon GMT; the clocks go forward on Sunday 29 March. 12 hours on
    # Friday, 12 on Monday: noon BST, which is 11:00 UTC.
    deadline = response_deadline(london(2026, 3, 27, 12, 0), 24)
    assert deadline == datetime(2026, 3, 30, 11, 0, tzinfo=UTC)
    assert deadline.astimezone(LONDON).hour == 12


def test_christmas_and_boxing_day() -> None:
    # 2026: Christmas Day is a Friday, Boxing Day (a Saturday) is observed on Monday 28th.
    assert response_deadline(london(2026, 12, 24, 18, 0), 24) == london(2026, 12, 29, 18, 0)


def test_a_calendar_can_be_injected() -> None:
    closed = {date(2026, 3, 5)}
    assert response_deadline(london(2026, 3, 4, 9, 0), 24, holiday=closed.__contains__) == london(
        2026, 3, 6, 9, 0
    )


def test_the_answer_is_utc_and_needs_an_offset() -> None:
    assert response_deadline(london(2026, 3, 4, 9, 0), 1).tzinfo is UTC
    with pytest.raises(ValueError):
        response_deadline(datetime(2026, 3, 4, 9, 0), 24)
    with pytest.raises(ValueError):
        response_deadline(london(2026, 3, 4, 9, 0), 0)
