"""Time rules: care days are Europe/London calendar days; instants leave as UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator

LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class Window:
    """Half-open [start, end): a London day is 23, 24 or 25 hours long."""

    start: datetime
    end: datetime


def london_day(day: date) -> Window:
    # Each midnight is resolved on its own so DST changes inside the day are respected.
    return Window(
        start=datetime.combine(day, time(), LONDON),
        end=datetime.combine(day + timedelta(days=1), time(), LONDON),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# The database hands back instants in its session time zone; results should not depend on it.
UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]
