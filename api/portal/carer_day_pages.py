"""The carer's day in the portal: for a provider, its carers' days with travel and the pay
check, one carer's day as a strip and a sequence of visits and journeys, and the pay rate form;
for a council, the anonymised figures per provider.

Pages call the same service as the API (visits.carer_day.service), so the same access rules
hold: a provider sees its own carers, a council the aggregates, another tenant gets 404.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.carer_days import schemas
from api.deps import ClockDep, ConnDep, FreshnessDep, PrincipalDep
from api.errors import Forbidden, Unprocessable
from api.portal.charts import BarChart, Series, bar_chart, share_text
from api.portal.day_strip import day_strip
from api.portal.pages import page
from api.portal.paths import PORTAL_PREFIX
from gateway.registry.queries import require_provider
from gateway.registry.repository import list_councils
from visits.carer_day import service
from visits.days import london_date

router = APIRouter()
DEFAULT_DAYS = 7
BELOW_FLOOR = Series("Carers' days below the pay floor", "chart-warn")
TRAVEL = Series("Travel minutes per contact hour", "chart-a")


def day_path(provider_id: str, carer_id: str, day: date) -> str:
    return f"{PORTAL_PREFIX}/providers/{provider_id}/carers/{carer_id}/days/{day.isoformat()}"


def _day(value: str | None, default: date, name: str) -> date:
    value = (value or "").strip()
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Unprocessable(f"{name}: {value!r} is not YYYY-MM-DD") from exc


def hours_minutes(minutes: int | None) -> str:
    """125 -> "2 h 05 min"; how people read a working day."""
    if minutes is None:
        return "-"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"


def gbp(amount: Decimal | None) -> str:
    return "-" if amount is None else f"£{amount:,.2f}"


@router.get("/providers/{provider_id}/carer-days", response_class=HTMLResponse)
def carer_days_page(
    request: Request,
    provider_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    clock: ClockDep,
    day: Annotated[str | None, Query(alias="date", max_length=10)] = None,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    chosen = _day(day, london_date(clock()), "date")
    listed = service.day_list(conn, freshness, principal, provider_id, chosen)
    rates = service.pay_rates(conn, principal, provider_id).items
    in_force = [r for r in rates if r.effective_from <= chosen]
    return page(
        request,
        "carer_days.html",
        principal,
        provider=require_provider(conn, provider_id),
        day=chosen,
        previous_day=chosen - timedelta(days=1),
        next_day=chosen + timedelta(days=1),
        items=listed.items,
        rate=in_force[-1] if in_force else None,
        rates=rates,
        notice=notice,
        day_path=day_path,
        hours_minutes=hours_minutes,
        gbp=gbp,
    )


@router.post("/providers/{provider_id}/pay-rate", response_model=None)
def declare_pay_rate(
    provider_id: str,
    conn: ConnDep,
    principal: PrincipalDep,
    effective_from: Annotated[str, Form(max_length=10)],
    hourly_rate_gbp: Annotated[str, Form(max_length=12)],
    travel_paid: Annotated[str | None, Form(max_length=5)] = None,
) -> RedirectResponse:
    try:
        body = schemas.PayRate(
            effective_from=date.fromisoformat(effective_from.strip()),
            hourly_rate_gbp=Decimal(hourly_rate_gbp.strip().lstrip("£")),
            travel_paid=travel_paid == "yes",
        )
    except (ValueError, InvalidOperation) as exc:
        raise Unprocessable("give a date and an hourly rate in pounds, e.g. 12.71") from exc
    service.declare_pay_rate(conn, principal, provider_id, body)
    return RedirectResponse(
        f"{PORTAL_PREFIX}/providers/{provider_id}/carer-days"
        f"?date={body.effective_from.isoformat()}&notice=pay-rate-saved",
        status_code=303,
    )


@router.get("/providers/{provider_id}/carers/{carer_id}/days/{day}", response_class=HTMLResponse)
def carer_day_page(
    request: Request,
    provider_id: str,
    carer_id: str,
    day: date,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    detail = service.day_detail(conn, freshness, principal, provider_id, carer_id, day)
    stays = {s.visit_id: s for s in detail.stays}
    # The day in order: each visit, then the journey that leaves it.
    legs_from = {leg.from_visit_id: leg for leg in detail.legs}
    arriving = [leg for leg in detail.legs if leg.from_visit_id not in stays]
    return page(
        request,
        "carer_day.html",
        principal,
        provider=require_provider(conn, provider_id),
        detail=detail,
        arriving=arriving,
        legs_from=legs_from,
        strip=day_strip(detail.stays, detail.legs),
        previous_path=day_path(provider_id, carer_id, day - timedelta(days=1)),
        next_path=day_path(provider_id, carer_id, day + timedelta(days=1)),
        hours_minutes=hours_minutes,
        gbp=gbp,
    )


@router.get("/carer-days", response_class=HTMLResponse)
def council_carer_days_page(
    request: Request,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    clock: ClockDep,
    council_id: Annotated[str | None, Query(max_length=200)] = None,
    first: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> HTMLResponse:
    if principal.council_id is not None:
        council_id = principal.council_id
        councils = []
    elif principal.is_admin:
        councils = list_councils(conn)
        council_id = (council_id or "").strip() or (councils[0].id if councils else None)
    else:
        raise Forbidden("these figures are for councils; your carers' days are on Carers' days")
    today = london_date(clock())
    last_day = _day(last, today, "to")
    first_day = _day(first, last_day - timedelta(days=DEFAULT_DAYS - 1), "from")
    providers: list[schemas.ProviderCarerDays] = []
    if council_id is not None:
        providers = service.council_report(
            conn, freshness, principal, council_id, first_day, last_day
        ).providers
    return page(
        request,
        "carer_days_council.html",
        principal,
        council_id=council_id,
        councils=councils,
        first_day=first_day,
        last_day=last_day,
        providers=providers,
        charts=_council_charts(providers),
        share_text=share_text,
        hours_minutes=hours_minutes,
        min_cell=freshness.settings.carer_day_min_cell,
    )


def _council_charts(providers: list[schemas.ProviderCarerDays]) -> list[BarChart]:
    shown = [p for p in providers if not p.withheld]
    if not shown:
        return []
    below = [
        (p.provider_name, [(p.below_floor_share, share_text(p.below_floor_share))]) for p in shown
    ]
    travel = [
        (
            p.provider_name,
            [
                (
                    p.travel_minutes_per_contact_hour,
                    "-"
                    if p.travel_minutes_per_contact_hour is None
                    else f"{p.travel_minutes_per_contact_hour:.1f} min",
                )
            ],
        )
        for p in shown
    ]
    return [
        bar_chart("Share of carers' days below the pay floor", [BELOW_FLOOR], below, maximum=1.0),
        bar_chart("Travel minutes per contact hour", [TRAVEL], travel),
    ]
