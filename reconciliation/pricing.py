"""Minutes to money: tolerance and cap (step 5), units (step 6), amounts (step 8)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from reconciliation.contract import Rounding, Rules
from reconciliation.holidays import is_bank_holiday

PENNY = Decimal("0.01")
SIXTY = Decimal(60)
ONE = Decimal(1)


def billable_minutes(actual_minutes: int, planned_minutes: int | None, rules: Rules) -> int:
    """Step 5: a visit within tolerance of its plan pays the plan; the cap stops paying past it."""
    if planned_minutes is None:
        return actual_minutes
    billable = actual_minutes
    if planned_minutes - rules.tolerance_minutes <= actual_minutes < planned_minutes:
        billable = planned_minutes
    if rules.cap_at_planned:
        billable = min(billable, planned_minutes)
    return billable


def round_to_unit(minutes: int, unit: int, rounding: Rounding) -> int:
    """Step 6 before the minimum: a multiple of the billing unit."""
    units, remainder = divmod(minutes, unit)
    if remainder == 0:
        return minutes
    if rounding is Rounding.UP:
        up = True
    elif rounding is Rounding.DOWN:
        up = False
    elif rounding is Rounding.SEVEN_EIGHT:
        up = remainder >= 8  # 15-minute units only (Rules refuses other units)
    else:  # nearest, halves up
        up = 2 * remainder >= unit
    return (units + up) * unit


def apply_minimum(rounded: int, actual_minutes: int, rules: Rules) -> int:
    """Step 6's floor: only a visit that happened (some minutes together) earns the minimum."""
    if actual_minutes > 0:
        return max(rounded, rules.minimum_minutes)
    return rounded


def day_uplift(visit_date: date, rules: Rules) -> Decimal:
    """The rate multiplier of a London date: bank holiday or weekend, the higher if both apply."""
    uplift = ONE
    if visit_date.weekday() >= 5:
        uplift = max(uplift, rules.weekend_uplift)
    if rules.bank_holiday_uplift != ONE and is_bank_holiday(visit_date):
        uplift = max(uplift, rules.bank_holiday_uplift)
    return uplift


def to_pennies(amount: Decimal) -> Decimal:
    return amount.quantize(PENNY, rounding=ROUND_HALF_UP)


def amount_for(carer_minutes: int, rate_per_hour: Decimal, uplift: Decimal) -> Decimal:
    """Step 8: carer-minutes at an hourly rate, in decimal, half-up to the penny (rounded once)."""
    return to_pennies(Decimal(carer_minutes) * rate_per_hour * uplift / SIXTY)
