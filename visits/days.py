"""Care days are Europe/London calendar days (23, 24 or 25 hours long)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def day_start(day: date) -> datetime:
    # Each midnight is resolved on its own, so a day holding a clock change has its real length.
    return datetime.combine(day, time(), LONDON)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    return day_start(day), day_start(day + timedelta(days=1))


def london_date(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()
