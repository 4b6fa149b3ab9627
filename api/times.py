"""Time rules of the API: care days are Europe/London calendar days (core.times); a day is asked
for as `?date=YYYY-MM-DD`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Query

from core.times import LONDON, UtcDatetime, Window, london_day, utc_now

__all__ = ["LONDON", "LondonDate", "UtcDatetime", "Window", "london_day", "utc_now"]

LondonDate = Annotated[
    date | None,
    Query(alias="date", description="Europe/London calendar date, YYYY-MM-DD."),
]
