"""Block contracts: a weekly block of hours paid regardless of delivery, extra hours at the spot
rate.

Each ISO week (Monday to Sunday, London dates) that meets the period is one block: its capacity
is block_hours_per_week pro rata to the week's days inside the period, in whole carer-minutes
(rounded down), and it is paid in full at rate_per_hour whatever was delivered. Payable
carer-minutes of the provider's lines use up the week's capacity in chronological order (visit
date, start, then input order); the part a line covers is priced 0.00 on the line (the block pays
it), the rest at spot_rate_per_hour with the day's uplift.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from reconciliation.contract import Period, ProviderTerms
from reconciliation.pricing import amount_for


@dataclass(frozen=True, slots=True)
class BlockWeek:
    week_start: date  # the Monday
    days_in_period: int
    capacity_minutes: int  # carer-minutes
    used_minutes: int
    payment: Decimal  # capacity at rate_per_hour, paid regardless


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


class BlockLedger:
    """One block provider's weeks, drawn down line by line in chronological order."""

    def __init__(self, terms: ProviderTerms, period: Period) -> None:
        self.terms = terms
        self.capacity: dict[date, int] = {}
        self.days: dict[date, int] = {}
        monday = week_start(period.start)
        while monday <= period.end:
            days = sum(1 for n in range(7) if monday + timedelta(days=n) in period)
            self.days[monday] = days
            self.capacity[monday] = int(terms.block_hours_per_week * 60 * days / 7)
            monday += timedelta(days=7)
        self.remaining = dict(self.capacity)

    def draw(self, visit_date: date, carer_minutes: int) -> int:
        """Covers what it can of a line from the block of its week; returns the uncovered part."""
        monday = week_start(visit_date)
        left = self.remaining.get(monday, 0)
        covered = min(left, carer_minutes)
        if monday in self.remaining:
            self.remaining[monday] = left - covered
        return carer_minutes - covered

    def weeks(self) -> list[BlockWeek]:
        return [
            BlockWeek(
                week_start=monday,
                days_in_period=self.days[monday],
                capacity_minutes=capacity,
                used_minutes=capacity - self.remaining[monday],
                payment=amount_for(capacity, self.terms.rate_per_hour, Decimal(1)),
            )
            for monday, capacity in self.capacity.items()
        ]
