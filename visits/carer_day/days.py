"""The carer's days of a provider's carers, and anonymised aggregates for a council: the
repository's stays through the pure rules, with the pay check. They never commit, and assume the
visit tables are current (visits.carer_day.service makes them so first)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection

from core.settings import Settings
from visits.carer_day import repository
from visits.carer_day.pay import (
    DatedRate,
    PayCheck,
    ProviderRate,
    check_pay,
    in_force,
    parse_floor_table,
)
from visits.carer_day.rules import CarerDay, DayRules, carer_days
from visits.days import day_start

# Reports cover at most this many days: a quarter, for a council's figures.
MAX_DAYS = 92


class CarerDayError(ValueError):
    """A request the carer's day cannot answer (a period the wrong way, or too long)."""


@dataclass(frozen=True)
class DayPolicy:
    rules: DayRules
    floor: tuple[DatedRate, ...]
    min_cell: int

    @classmethod
    def from_settings(cls, settings: Settings) -> DayPolicy:
        return cls(
            DayRules(
                max_travel_gap=timedelta(minutes=settings.carer_day_max_travel_gap_minutes),
                travel_speed_kmh=settings.carer_day_travel_speed_kmh,
            ),
            tuple(parse_floor_table(settings.pay_floor_table)),
            settings.carer_day_min_cell,
        )


@dataclass(frozen=True)
class CarerDayReport:
    day: CarerDay
    carer_name: str
    # None when the provider declared no pay rate in force that day, or no floor applies.
    pay: PayCheck | None
    rate: ProviderRate | None
    floor: DatedRate | None


def check_period(first: date, last: date) -> None:
    if last < first:
        raise CarerDayError("the period ends before it starts")
    if (last - first).days + 1 > MAX_DAYS:
        raise CarerDayError(f"a period is at most {MAX_DAYS} days")


def provider_days(
    conn: Connection,
    policy: DayPolicy,
    provider_id: str,
    first: date,
    last: date,
    carer_id: str | None = None,
) -> list[CarerDayReport]:
    """Every day in [first, last] on which one of the provider's carers (or the one carer)
    had a stay, by day then carer."""
    check_period(first, last)
    # From the day before: its last stay may lead straight into the first day (rule 5).
    found = repository.stays(
        conn,
        provider_id,
        day_start(first - timedelta(days=1)),
        day_start(last + timedelta(days=1)),
        None if carer_id is None else [carer_id],
    )
    names = repository.carer_names(conn, provider_id)
    rates = repository.provider_rates(conn, provider_id)
    reports = [
        day_report(day, names.get(day.carer_id, day.carer_id), rates, policy.floor)
        for day in carer_days(found, policy.rules)
        if first <= day.day <= last
    ]
    reports.sort(key=lambda r: (r.day.day, r.carer_name, r.day.carer_id))
    return reports


def day_report(
    day: CarerDay,
    name: str,
    rates: Sequence[ProviderRate],
    floor_table: Sequence[DatedRate],
) -> CarerDayReport:
    """One carer-day with its pay checked: the provider's rate and the floor in force on the
    day the day belongs to (a stay across midnight belongs to the day it started)."""
    rate = in_force(rates, day.day)
    floor = in_force(floor_table, day.day)
    pay = None
    if rate is not None and floor is not None:
        pay = check_pay(day.contact, day.travel, rate, floor)
    return CarerDayReport(day, name, pay, rate, floor)


@dataclass(frozen=True)
class ProviderAggregate:
    """A provider's carers' days over a period, with no carer named. Figures are withheld
    (None) when there are fewer carer-days than the policy's smallest cell, so a provider with
    one or two carers does not show one person's pay."""

    provider_id: str
    provider_name: str
    carer_days: int
    withheld: bool
    days_checked: int | None = None
    days_below_floor: int | None = None
    contact_minutes: int | None = None
    travel_minutes: int | None = None
    unpaid_gap_minutes: int | None = None

    @property
    def below_floor_share(self) -> float | None:
        if not self.days_checked or self.days_below_floor is None:
            return None
        return self.days_below_floor / self.days_checked

    @property
    def travel_minutes_per_contact_hour(self) -> float | None:
        if not self.contact_minutes or self.travel_minutes is None:
            return None
        return self.travel_minutes / (self.contact_minutes / 60)


def council_aggregates(
    conn: Connection, policy: DayPolicy, council_id: str, first: date, last: date
) -> list[ProviderAggregate]:
    check_period(first, last)
    aggregates = []
    for provider_id, name in repository.commissioned_providers(conn, council_id):
        days = provider_days(conn, policy, provider_id, first, last)
        if len(days) < policy.min_cell:
            aggregates.append(ProviderAggregate(provider_id, name, len(days), withheld=True))
            continue
        checked = [d.pay for d in days if d.pay is not None]
        aggregates.append(
            ProviderAggregate(
                provider_id,
                name,
                len(days),
                withheld=False,
                days_checked=len(checked),
                days_below_floor=sum(1 for pay in checked if pay.below_floor),
                contact_minutes=_minutes(sum((d.day.contact for d in days), timedelta(0))),
                travel_minutes=_minutes(sum((d.day.travel for d in days), timedelta(0))),
                unpaid_gap_minutes=_minutes(sum((d.day.unpaid for d in days), timedelta(0))),
            )
        )
    return aggregates


def set_rate(conn: Connection, provider_id: str, rate: ProviderRate, set_by: str) -> None:
    repository.set_provider_rate(conn, provider_id, rate, set_by)


def rates(conn: Connection, provider_id: str) -> list[ProviderRate]:
    return repository.provider_rates(conn, provider_id)


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
