"""Response deadlines in working hours.

A working hour is an hour of a working day: Monday to Friday, as London's calendar has it,
except England and Wales bank holidays (reconciliation.holidays). An offer made at 15:00 on a
Friday before a bank holiday Monday with 24 working hours to answer has 9 hours on Friday and the
remaining 15 on Tuesday: it is due at 15:00 on Tuesday. An offer made on a weekend starts its
clock at midnight on the next working day. Hours are real elapsed hours, so a working day at a
clock change counts the 23 or 25 hours it really has.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from commissioning.model import LONDON
from reconciliation.holidays import is_bank_holiday

SATURDAY = 5


def is_working_day(day: date, holiday: Callable[[date], bool] = is_bank_holiday) -> bool:
    return day.weekday() < SATURDAY and not holiday(day)


def _midnight_after(day: date) -> datetime:
    # Each midnight resolved on its own, so a day across a clock change has its real length.
    return datetime.combine(day + timedelta(days=1), time(), LONDON).astimezone(UTC)


def response_deadline(
    offered_at: datetime, working_hours: int, holiday: Callable[[date], bool] = is_bank_holiday
) -> datetime:
    """The instant `working_hours` working hours after `offered_at` (UTC)."""
    if working_hours < 1:
        raise ValueError("the response time is at least one working hour")
    if offered_at.tzinfo is None:
        raise ValueError("offered_at needs its UTC offset")
    remaining = timedelta(hours=working_hours)
    moment = offered_at.astimezone(UTC)
    while True:
        day = moment.astimezone(LONDON).date()
        day_end = _midnight_after(day)
        if is_working_day(day, holiday):
            available = day_end - moment
            if remaining <= available:
                return moment + remaining
            remaining -= available
        moment = day_end
