"""England and Wales bank holidays, computed by rule (Banking and Financial Dealings Act 1971
and the royal proclamations that moved or added days), so any year is known without a feed.

Checked against the dates gov.uk publishes (tests/reconciliation/test_holidays.py).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

MONDAY, FRIDAY, SATURDAY, SUNDAY = 0, 4, 5, 6

# One-off days by proclamation.
_ADDED = {
    date(1999, 12, 31),  # Millennium
    date(2002, 6, 3),  # Golden Jubilee
    date(2011, 4, 29),  # Royal wedding
    date(2012, 6, 5),  # Diamond Jubilee
    date(2022, 6, 3),  # Platinum Jubilee
    date(2022, 9, 19),  # State funeral of Queen Elizabeth II
    date(2023, 5, 8),  # Coronation of King Charles III
}
# Regular days moved by proclamation: year -> (rule date, date observed instead).
_MOVED = {
    1995: (date(1995, 5, 1), date(1995, 5, 8)),  # early May, for VE Day's 50th anniversary
    2002: (date(2002, 5, 27), date(2002, 6, 4)),  # spring, for the Golden Jubilee
    2012: (date(2012, 5, 28), date(2012, 6, 4)),  # spring, for the Diamond Jubilee
    2020: (date(2020, 5, 4), date(2020, 5, 8)),  # early May, for VE Day's 75th anniversary
    2022: (date(2022, 5, 30), date(2022, 6, 2)),  # spring, for the Platinum Jubilee
}


def easter_sunday(year: int) -> date:
    """Gregorian Easter (the anonymous algorithm, as in Meeus)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    n = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * n) // 451
    month, day = divmod(h + n - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _first_monday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(MONDAY - first.weekday()) % 7)


def _last_monday(year: int, month: int) -> date:
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - MONDAY) % 7)


def _next_weekday(day: date) -> date:
    while day.weekday() >= SATURDAY:
        day += timedelta(days=1)
    return day


@cache
def bank_holidays(year: int) -> frozenset[date]:
    """The England and Wales bank holidays of a year (1978 onwards, when early May began)."""
    if year < 1978:
        raise ValueError("bank holidays are computed from 1978")
    easter = easter_sunday(year)
    days = {
        _next_weekday(date(year, 1, 1)),  # New Year's Day, or the Monday after
        easter - timedelta(days=2),  # Good Friday
        easter + timedelta(days=1),  # Easter Monday
        _first_monday(year, 5),  # early May
        _last_monday(year, 5),  # spring
        _last_monday(year, 8),  # summer
    }
    christmas = date(year, 12, 25)
    if christmas.weekday() == FRIDAY:  # Boxing Day on Saturday moves to Monday 28th
        days |= {christmas, date(year, 12, 28)}
    elif christmas.weekday() == SATURDAY:  # both move: Monday 27th and Tuesday 28th
        days |= {date(year, 12, 27), date(year, 12, 28)}
    elif christmas.weekday() == SUNDAY:  # Boxing Day Monday 26th, Christmas Tuesday 27th
        days |= {date(year, 12, 26), date(year, 12, 27)}
    else:
        days |= {christmas, date(year, 12, 26)}
    if year in _MOVED:
        rule_day, observed = _MOVED[year]
        days = (days - {rule_day}) | {observed}
    days |= {day for day in _ADDED if day.year == year}
    return frozenset(days)


def is_bank_holiday(day: date) -> bool:
    return day in bank_holidays(day.year)
