"""Pay against the pay floor: the National Living Wage by date, providers' declared rates.

Money is in pence, computed with Decimal and rounded half up to the penny once, at the end.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TypeVar


class PayTableError(ValueError):
    pass


@dataclass(frozen=True)
class DatedRate:
    """A rate in pence per hour, in force from `effective_from` until the next one."""

    effective_from: date
    pence_per_hour: int


@dataclass(frozen=True)
class ProviderRate:
    """What a provider declares it pays its carers: an hourly rate, and whether travel between
    visits is paid at it (an ethical care charter asks that it is)."""

    effective_from: date
    pence_per_hour: int
    travel_paid: bool


def parse_floor_table(text: str) -> list[DatedRate]:
    """`YYYY-MM-DD=GBP per hour` entries, comma-separated (ECM_PAY_FLOOR_TABLE)."""
    rates: list[DatedRate] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        day, _, amount = entry.partition("=")
        try:
            rates.append(DatedRate(date.fromisoformat(day.strip()), pounds_to_pence(amount)))
        except (ValueError, InvalidOperation) as exc:
            raise PayTableError(f"pay floor entry {entry!r}: want YYYY-MM-DD=12.71") from exc
    rates.sort(key=lambda r: r.effective_from)
    if len({r.effective_from for r in rates}) != len(rates):
        raise PayTableError("the pay floor table names a date twice")
    return rates


def pounds_to_pence(amount: str | Decimal) -> int:
    pence = (Decimal(str(amount).strip()) * 100).quantize(Decimal(1), ROUND_HALF_UP)
    if pence <= 0:
        raise ValueError("a rate must be more than zero")
    return int(pence)


Rate = TypeVar("Rate", DatedRate, ProviderRate)


def in_force(rates: Sequence[Rate], day: date) -> Rate | None:
    """The rate in force on `day`: the latest that took effect on or before it."""
    index = bisect_right([r.effective_from for r in rates], day)
    return rates[index - 1] if index else None


@dataclass(frozen=True)
class PayCheck:
    """One carer-day's pay against the floor, for the time worked: contact plus travel."""

    floor_pence_per_hour: int
    rate_pence_per_hour: int
    travel_paid: bool
    paid: timedelta
    worked: timedelta
    pay_pence: int
    floor_pence: int

    @property
    def below_floor(self) -> bool:
        return self.pay_pence < self.floor_pence

    @property
    def shortfall_pence(self) -> int:
        return max(0, self.floor_pence - self.pay_pence)

    @property
    def effective_pence_per_hour(self) -> int | None:
        """The day's pay over the hours worked: what the carer earned per hour of work."""
        if self.worked <= timedelta(0):
            return None
        return _pence(Decimal(self.pay_pence) * 3600 / Decimal(self.worked.total_seconds()))


def check_pay(
    contact: timedelta, travel: timedelta, rate: ProviderRate, floor: DatedRate
) -> PayCheck:
    worked = contact + travel
    paid = worked if rate.travel_paid else contact
    return PayCheck(
        floor_pence_per_hour=floor.pence_per_hour,
        rate_pence_per_hour=rate.pence_per_hour,
        travel_paid=rate.travel_paid,
        paid=paid,
        worked=worked,
        pay_pence=_pence(_hours(paid) * rate.pence_per_hour),
        floor_pence=_pence(_hours(worked) * floor.pence_per_hour),
    )


def _hours(span: timedelta) -> Decimal:
    return Decimal(int(span.total_seconds())) / 3600


def _pence(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), ROUND_HALF_UP))
