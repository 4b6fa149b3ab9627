"""Bank holidays by rule against the England and Wales dates gov.uk publishes
(https://www.gov.uk/bank-holidays.json, "england-and-wales" events: 2018-2025 were checked
against a copy of that feed; 2012, 2026 and 2027 against gov.uk's published lists)."""

from __future__ import annotations

from datetime import date

import pytest

from reconciliation.holidays import bank_holidays, easter_sunday, is_bank_holiday

PUBLISHED = {
    2012: ["01-02", "04-06", "04-09", "05-07", "06-04", "06-05", "08-27", "12-25", "12-26"],
    2018: ["01-01", "03-30", "04-02", "05-07", "05-28", "08-27", "12-25", "12-26"],
    2019: ["01-01", "04-19", "04-22", "05-06", "05-27", "08-26", "12-25", "12-26"],
    2020: ["01-01", "04-10", "04-13", "05-08", "05-25", "08-31", "12-25", "12-28"],
    2021: ["01-01", "04-02", "04-05", "05-03", "05-31", "08-30", "12-27", "12-28"],
    2022: [
        "01-03", "04-15", "04-18", "05-02", "06-02", "06-03", "08-29", "09-19", "12-26", "12-27",
    ],
    2023: ["01-02", "04-07", "04-10", "05-01", "05-08", "05-29", "08-28", "12-25", "12-26"],
    2024: ["01-01", "03-29", "04-01", "05-06", "05-27", "08-26", "12-25", "12-26"],
    2025: ["01-01", "04-18", "04-21", "05-05", "05-26", "08-25", "12-25", "12-26"],
    2026: ["01-01", "04-03", "04-06", "05-04", "05-25", "08-31", "12-25", "12-28"],
    2027: ["01-01", "03-26", "03-29", "05-03", "05-31", "08-30", "12-27", "12-28"],
}  # fmt: skip


@pytest.mark.parametrize("year", sorted(PUBLISHED))
def test_computed_dates_match_the_published_ones(year: int) -> None:
    expected = {date.fromisoformat(f"{year}-{day}") for day in PUBLISHED[year]}
    assert bank_holidays(year) == expected


def test_easter() -> None:
    assert easter_sunday(2026) == date(2026, 4, 5)
    assert easter_sunday(2024) == date(2024, 3, 31)
    assert easter_sunday(2038) == date(2038, 4, 25)  # the latest possible


def test_substitute_days_and_the_weekend_days_they_replace() -> None:
    # Christmas 2021 on Saturday: Monday 27th and Tuesday 28th instead.
    assert not is_bank_holiday(date(2021, 12, 25))
    assert is_bank_holiday(date(2021, 12, 27)) and is_bank_holiday(date(2021, 12, 28))
    # New Year's Day 2022 on Saturday: Monday 3 January.
    assert not is_bank_holiday(date(2022, 1, 1)) and is_bank_holiday(date(2022, 1, 3))


def test_one_off_days() -> None:
    assert is_bank_holiday(date(1999, 12, 31))
    assert is_bank_holiday(date(2011, 4, 29))
    assert is_bank_holiday(date(2023, 5, 8))
    assert not is_bank_holiday(date(2020, 5, 4))  # early May moved to VE Day, Friday 8th
