"""The carer's day service the API and the portal call: who may read what
(visits.carer_day.access), visits made fresh before each read, the carer's days
(visits.carer_day.days) as the domain's views. The caller owns the transaction."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Connection

from core.access import Scope
from core.errors import NotFound, Unprocessable
from visits.carer_day import days, repository, views
from visits.carer_day.access import ensure_council, ensure_own_provider
from visits.carer_day.days import CarerDayError, CarerDayReport, DayPolicy, ProviderAggregate
from visits.carer_day.export import carer_days_csv, council_csv, minutes
from visits.carer_day.pay import PayCheck, ProviderRate, pounds_to_pence
from visits.freshness import VisitFreshness


def _reports(
    conn: Connection,
    freshness: VisitFreshness,
    provider_id: str,
    first: date,
    last: date,
    carer_id: str | None = None,
) -> list[CarerDayReport]:
    freshness.fresh()
    try:
        return days.provider_days(
            conn, DayPolicy.from_settings(freshness.settings), provider_id, first, last, carer_id
        )
    except CarerDayError as exc:
        raise Unprocessable(str(exc)) from exc


def day_list(
    conn: Connection, freshness: VisitFreshness, scope: Scope, provider_id: str, day: date
) -> views.CarerDayList:
    ensure_own_provider(conn, scope, provider_id)
    reports = _reports(conn, freshness, provider_id, day, day)
    return views.CarerDayList(provider_id=provider_id, day=day, items=[summary(r) for r in reports])


def day_detail(
    conn: Connection,
    freshness: VisitFreshness,
    scope: Scope,
    provider_id: str,
    carer_id: str,
    day: date,
) -> views.CarerDayDetail:
    ensure_own_provider(conn, scope, provider_id)
    name = repository.carer_of_provider(conn, provider_id, carer_id)
    if name is None:
        raise NotFound(f"carer {carer_id} not found")
    found = _reports(conn, freshness, provider_id, day, day, carer_id)
    if found:
        [report] = found
        base = summary(report).model_dump()
        stays, legs = report.day.stays, report.day.legs
    else:
        base = {
            "carer_id": carer_id,
            "carer_name": name,
            "day": day,
            "visits": 0,
            "open_visits": 0,
            "first_check_in": None,
            "last_check_out": None,
            "contact_minutes": 0,
            "travel_minutes": 0,
            "unpaid_gap_minutes": 0,
            "distance_km": 0.0,
            "pay": None,
        }
        stays, legs = (), ()
    return views.CarerDayDetail(
        **base,
        provider_id=provider_id,
        stays=[
            views.CarerDayStay(
                visit_id=s.visit_id,
                service_user_id=s.service_user_id,
                service_user_name=s.service_user_name,
                check_in=s.check_in,
                check_out=s.check_out,
                minutes=None if s.minutes is None else int(s.minutes),
                verification=s.verification,  # type: ignore[arg-type]
            )
            for s in stays
        ],
        legs=[
            views.TravelLeg(
                from_visit_id=leg.from_stay.visit_id,
                to_visit_id=leg.to_stay.visit_id,
                left_at=leg.left_at,
                arrived_at=leg.arrived_at,
                gap_minutes=minutes(leg.gap),
                travel_minutes=minutes(leg.travel),
                unpaid_gap_minutes=minutes(leg.unpaid),
                distance_km=None if leg.distance_km is None else round(leg.distance_km, 2),
                speed_kmh=None if leg.speed_kmh is None else round(leg.speed_kmh, 1),
            )
            for leg in legs
        ],
    )


def provider_csv(
    conn: Connection,
    freshness: VisitFreshness,
    scope: Scope,
    provider_id: str,
    first: date,
    last: date,
) -> str:
    ensure_own_provider(conn, scope, provider_id)
    return carer_days_csv(_reports(conn, freshness, provider_id, first, last))


def aggregates(
    conn: Connection,
    freshness: VisitFreshness,
    scope: Scope,
    council_id: str,
    first: date,
    last: date,
) -> list[ProviderAggregate]:
    ensure_council(conn, scope, council_id)
    freshness.fresh()
    try:
        return days.council_aggregates(
            conn, DayPolicy.from_settings(freshness.settings), council_id, first, last
        )
    except CarerDayError as exc:
        raise Unprocessable(str(exc)) from exc


def council_report(
    conn: Connection,
    freshness: VisitFreshness,
    scope: Scope,
    council_id: str,
    first: date,
    last: date,
) -> views.CouncilCarerDays:
    found = aggregates(conn, freshness, scope, council_id, first, last)
    return views.CouncilCarerDays.model_validate(
        {
            "council_id": council_id,
            "from": first,
            "to": last,
            "providers": [aggregate(a) for a in found],
        }
    )


def council_report_csv(
    conn: Connection,
    freshness: VisitFreshness,
    scope: Scope,
    council_id: str,
    first: date,
    last: date,
) -> str:
    return council_csv(aggregates(conn, freshness, scope, council_id, first, last))


def pay_rates(conn: Connection, scope: Scope, provider_id: str) -> views.PayRateList:
    ensure_own_provider(conn, scope, provider_id)
    return views.PayRateList(
        provider_id=provider_id,
        items=[pay_rate(r) for r in days.rates(conn, provider_id)],
    )


def declare_pay_rate(
    conn: Connection, scope: Scope, provider_id: str, body: views.PayRate
) -> views.PayRate:
    ensure_own_provider(conn, scope, provider_id)
    rate = ProviderRate(
        body.effective_from, pounds_to_pence(body.hourly_rate_gbp), body.travel_paid
    )
    days.set_rate(conn, provider_id, rate, scope.subject)
    return pay_rate(rate)


def pay_rate(rate: ProviderRate) -> views.PayRate:
    return views.PayRate(
        effective_from=rate.effective_from,
        hourly_rate_gbp=_gbp(rate.pence_per_hour),
        travel_paid=rate.travel_paid,
    )


def summary(report: CarerDayReport) -> views.CarerDaySummary:
    day = report.day
    return views.CarerDaySummary(
        carer_id=day.carer_id,
        carer_name=report.carer_name,
        day=day.day,
        visits=day.visits,
        open_visits=day.open_stays,
        first_check_in=day.first_check_in,
        last_check_out=day.last_check_out,
        contact_minutes=minutes(day.contact),
        travel_minutes=minutes(day.travel),
        unpaid_gap_minutes=minutes(day.unpaid),
        distance_km=round(day.distance_km, 2),
        pay=None if report.pay is None else pay_check(report.pay),
    )


def pay_check(pay: PayCheck) -> views.PayCheck:
    effective = pay.effective_pence_per_hour
    return views.PayCheck(
        hourly_rate_gbp=_gbp(pay.rate_pence_per_hour),
        travel_paid=pay.travel_paid,
        floor_gbp_per_hour=_gbp(pay.floor_pence_per_hour),
        paid_minutes=minutes(pay.paid),
        worked_minutes=minutes(pay.worked),
        pay_gbp=_gbp(pay.pay_pence),
        floor_gbp=_gbp(pay.floor_pence),
        below_floor=pay.below_floor,
        shortfall_gbp=_gbp(pay.shortfall_pence),
        effective_gbp_per_hour=None if effective is None else _gbp(effective),
    )


def aggregate(a: ProviderAggregate) -> views.ProviderCarerDays:
    per_hour = a.travel_minutes_per_contact_hour
    share = a.below_floor_share
    return views.ProviderCarerDays(
        provider_id=a.provider_id,
        provider_name=a.provider_name,
        carer_days=a.carer_days,
        withheld=a.withheld,
        days_checked=a.days_checked,
        days_below_floor=a.days_below_floor,
        below_floor_share=None if share is None else round(share, 4),
        contact_minutes=a.contact_minutes,
        travel_minutes=a.travel_minutes,
        travel_minutes_per_contact_hour=None if per_hour is None else round(per_hour, 1),
        unpaid_gap_minutes=a.unpaid_gap_minutes,
    )


def _gbp(pence: int) -> Decimal:
    return (Decimal(pence) / 100).quantize(Decimal("0.01"))
