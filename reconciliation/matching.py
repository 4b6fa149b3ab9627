"""Indexes that make each invoice line near O(1): actual visits by (provider, service user,
London date) for step 1, planned visits by (provider, service user) in start order for step 5."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from reconciliation.records import VERIFIED_FROM_HOME, ActualVisit, PlannedVisit

LONDON = ZoneInfo("Europe/London")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US


def instant_us(moment: datetime) -> int:
    """Exact microseconds since the epoch (floats would blur whole-minute boundaries)."""
    return (moment - EPOCH) // MICROSECOND


def london_date(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


@lru_cache(maxsize=65_536)
def local_instant_us(day: date, clock: time) -> int:
    """A Europe/London wall-clock time on a date. A time the spring change skips is read with
    the offset before the change; a time the autumn change repeats is its first occurrence."""
    return instant_us(datetime.combine(day, clock, tzinfo=LONDON))


class ActualIndex:
    """Actual visits as parallel columns, bucketed by (provider, service user, London date)."""

    def __init__(self, actuals: Sequence[ActualVisit]) -> None:
        self.check_in: list[int] = []
        self.check_out: list[int] = []
        self.carer: list[str] = []
        self.verified: list[bool] = []
        self.day: list[date] = []
        self.buckets: dict[tuple[str, str, date], list[int]] = defaultdict(list)
        # London's offset is whole hours and changes on a UTC hour, so one UTC hour lies within
        # one London date: look the date up once per hour rather than once per visit.
        days_by_hour: dict[int, date] = {}
        day: date | None
        for index, actual in enumerate(actuals):
            arrived = instant_us(actual.check_in)
            day = days_by_hour.get(arrived // HOUR_US)
            if day is None:
                day = days_by_hour[arrived // HOUR_US] = london_date(actual.check_in)
            self.check_in.append(arrived)
            self.check_out.append(instant_us(actual.check_out))
            self.carer.append(actual.carer_ref)
            self.verified.append(actual.verification in VERIFIED_FROM_HOME)
            self.day.append(day)
            self.buckets[(actual.provider_ref, actual.service_user_ref, day)].append(index)

    def candidates(
        self, provider_ref: str, service_user_ref: str, day: date, start_us: int, end_us: int
    ) -> list[int]:
        """Step 1: rows whose check-in falls on the date and whose interval overlaps the claim."""
        bucket = self.buckets.get((provider_ref, service_user_ref, day))
        if not bucket:
            return []
        check_in, check_out = self.check_in, self.check_out
        return [i for i in bucket if check_in[i] < end_us and check_out[i] > start_us]


class ScheduleIndex:
    """Planned visits per (provider, service user), sorted by start, for the nearest match."""

    def __init__(self, planned: Sequence[PlannedVisit]) -> None:
        grouped: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        for index, visit in enumerate(planned):
            grouped[(visit.provider_ref, visit.service_user_ref)].append(
                (instant_us(visit.planned_start), index)
            )
        self.planned = planned
        self.starts: dict[tuple[str, str], list[int]] = {}
        self.order: dict[tuple[str, str], list[int]] = {}
        for key, rows in grouped.items():
            rows.sort()  # by start, then input order: equal starts keep the first row
            self.starts[key] = [start for start, _ in rows]
            self.order[key] = [index for _, index in rows]

    def is_commissioned(self, provider_ref: str, service_user_ref: str) -> bool:
        """A provider is commissioned for a service user when the schedule plans a visit by it."""
        return (provider_ref, service_user_ref) in self.starts

    def nearest(
        self, provider_ref: str, service_user_ref: str, moment_us: int, window_minutes: int
    ) -> PlannedVisit | None:
        """Step 5: within +-window of the moment; nearest first, then the earlier start."""
        starts = self.starts.get((provider_ref, service_user_ref))
        if not starts:
            return None
        window = window_minutes * MINUTE_US
        at = bisect_left(starts, moment_us)
        best: int | None = None
        # The nearest earlier start is the last one before `at`; the nearest later is at `at`
        # (the first of equal starts, which keeps input order among them).
        before = at - 1
        if before >= 0:
            first_equal = bisect_left(starts, starts[before])
            if moment_us - starts[before] <= window:
                best = first_equal
        # A later start wins only when strictly nearer: a tie goes to the earlier start.
        if (
            at < len(starts)
            and starts[at] - moment_us <= window
            and (best is None or starts[at] - moment_us < moment_us - starts[best])
        ):
            best = at
        if best is None:
            return None
        return self.planned[self.order[(provider_ref, service_user_ref)][best]]
