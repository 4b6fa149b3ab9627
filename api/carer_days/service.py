"""The carer's day for the API: who may read what, fresh visits before each read, and the
domain's records as response models."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Connection

from api.carer_days import schemas
from api.deps import Principal
from api.errors import Forbidden, NotFound, Unprocessable
from api.registry.service import require_provider
from api.visits.access import is_council, principal_council
from api.visits.service import fresh
from core.settings import Settings
from visits.carer_day import repository, service
from visits.carer_day.export import carer_days_csv, council_csv, minutes
from visits.carer_day.pay import PayCheck, ProviderRate, pounds_to_pence
from visits.carer_day.service import CarerDayError, CarerDayReport, DayPolicy, ProviderAggregate


def ensure_own_provider(conn: Connection, principal: Principal, provider_id: str) -> None:
    """A carer's day is the provider's employment record: the provider and administrators read
    it; a council reads the aggregates; another provider gets 404, as for any of its records."""
    if principal.is_admin:
        require_provider(conn, provider_id)
        return
    if principal.provider_id is not None:
        if principal.provider_id != provider_id:
            raise NotFound(f"provider {provider_id} not found")
        return
    raise Forbidden("carers' days are for their provider; councils read /councils/{id}/carer-days")


def ensure_council(conn: Connection, principal: Principal, council_id: str) -> None:
    if principal.is_admin:
        if not repository.council_exists(conn, council_id):
            raise NotFound(f"council {council_id} not found")
        return
    if is_council(principal):
        if principal_council(principal) != council_id:
            raise NotFound(f"council {council_id} not found")
        return
    raise Forbidden("councils and administrators only")


def _reports(
    conn: Connection,
    settings: Settings,
    provider_id: str,
    first: date,
    last: date,
    carer_id: str | None = None,
) -> list[CarerDayReport]:
    fresh(conn, settings)
    try:
        return service.provider_days(
            conn, DayPolicy.from_settings(settings), provider_id, first, last, carer_id
        )
    except CarerDayError as exc:
        raise Unprocessable(str(exc)) from exc


def day_list(
    conn: Connection, settings: Settings, principal: Principal, provider_id: str, day: date
) -> schemas.CarerDayList:
    ensure_own_provider(conn, principal, provider_id)
    reports = _reports(conn, settings, provider_id, day, day)
    return schemas.CarerDayList(
        provider_id=provider_id, day=day, items=[summary(r) for r in reports]
    )


def day_detail(
    conn: Connection,
    settings: Settings,
    principal: Principal,
    provider_id: str,
    carer_id: str,
    day: date,
) -> schemas.CarerDayDetail:
    ensure_own_provider(conn, principal, provider_id)
    name = repository.carer_of_provider(conn, provider_id, carer_id)
    if name is None:
        raise NotFound(f"carer {carer_id} not found")
    found = _reports(conn, settings, provider_id, day, day, carer_id)
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
    return schemas.CarerDayDetail(
        **base,
        provider_id=provider_id,
        stays=[
            schemas.CarerDayStay(
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
            schemas.TravelLeg(
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
    settings: Settings,
    principal: Principal,
    provider_id: str,
    first: date,
    last: date,
) -> str:
    ensure_own_provider(conn, principal, provider_id)
    return carer_days_csv(_reports(conn, settings, provider_id, first, last))


def aggregates(
    conn: Connection,
    settings: Settings,
    principal: Principal,
    council_id: str,
    first: date,
    last: date,
) -> list[ProviderAggregate]:
    ensure_council(conn, principal, council_id)
    fresh(conn, settings)
    try:
        return service.council_aggregates(
            conn, DayPolicy.from_settings(settings), council_id, first, last
        )
    except CarerDayError as exc:
        raise Unprocessable(str(exc)) from exc


def council_report(
    conn: Connection,
    settings: Settings,
    principal: Principal,
    council_id: str,
    first: date,
    last: date,
) -> schemas.CouncilCarerDays:
    found = aggregates(conn, settings, principal, council_id, first, last)
    return schemas.CouncilCarerDays.model_validate(
        {
            "council_id": council_id,
            "from": first,
            "to": last,
            "providers": [aggregate(a) for a in found],
        }
    )


def council_report_csv(
    conn: Connection,
    settings: Settings,
    principal: Principal,
    council_id: str,
    first: date,
    last: date,
) -> str:
    return council_csv(aggregates(conn, settings, principal, council_id, first, last))


def pay_rates(conn: Connection, principal: Principal, provider_id: str) -> schemas.PayRateList:
    ensure_own_provider(conn, principal, provider_id)
    return schemas.PayRateList(
        provider_id=provider_id,
        items=[pay_rate(r) for r in service.rates(conn, provider_id)],
    )


def declare_pay_rate(
    conn: Connection, principal: Principal, provider_id: str, body: schemas.PayRate
) -> schemas.PayRate:
    ensure_own_provider(conn, principal, provider_id)
    rate = ProviderRate(
        body.effective_from, pounds_to_pence(body.hourly_rate_gbp), body.travel_paid
    )
    service.set_rate(conn, provider_id, rate, principal.subject)
    return pay_rate(rate)


def pay_rate(rate: ProviderRate) -> schemas.PayRate:
    return schemas.PayRate(
        effective_from=rate.effective_from,
        hourly_rate_gbp=_gbp(rate.pence_per_hour),
        travel_paid=rate.travel_paid,
    )


def summary(report: CarerDayReport) -> schemas.CarerDaySummary:
    day = report.day
    return schemas.CarerDaySummary(
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


def pay_check(pay: PayCheck) -> schemas.PayCheck:
    effective = pay.effective_pence_per_hour
    return schemas.PayCheck(
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


def aggregate(a: ProviderAggregate) -> schemas.ProviderCarerDays:
    per_hour = a.travel_minutes_per_contact_hour
    share = a.below_floor_share
    return schemas.ProviderCarerDays(
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
