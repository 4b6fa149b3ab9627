"""The carer's day (docs/carer-day.md): for the provider per carer, for the council per
provider, anonymised."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from api.carer_days import schemas
from api.deps import ClockDep, ConnDep, FreshnessDep, PrincipalDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, error_response
from visits.carer_day import service
from visits.days import london_date

router = APIRouter(tags=["carer days"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})
PROVIDERS_ONLY: dict[int | str, dict[str, Any]] = {
    403: error_response("The provider's own managers and administrators only.")
}
COUNCILS_ONLY: dict[int | str, dict[str, Any]] = {
    403: error_response("Councils and administrators only.")
}
First = Annotated[date, Query(alias="from", description="First London day.")]
Last = Annotated[date, Query(alias="to", description="Last London day, inclusive (92 at most).")]


def _csv(content: str, filename: str) -> Response:
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_response(description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": description}
    }


@router.get(
    "/providers/{provider_id}/carer-days",
    response_model=schemas.CarerDayList,
    responses=PROVIDERS_ONLY,
)
def list_carer_days(
    provider_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    clock: ClockDep,
    day: Annotated[
        date | None, Query(alias="date", description="London day; today if left out.")
    ] = None,
) -> schemas.CarerDayList:
    """Each of the provider's carers who worked that London day: visits, contact, travel and
    unpaid minutes, distance, first and last visit, and the pay check against the National
    Living Wage where the provider declared a pay rate."""
    return service.day_list(conn, freshness, principal, provider_id, day or london_date(clock()))


@router.get(
    "/providers/{provider_id}/carers/{carer_id}/days/{day}",
    response_model=schemas.CarerDayDetail,
    responses=PROVIDERS_ONLY,
)
def get_carer_day(
    provider_id: str,
    carer_id: str,
    day: date,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
) -> schemas.CarerDayDetail:
    """One carer's London day: each stay, each leg between stays (gap, travel, unpaid gap,
    straight-line distance and implied speed), and the pay check."""
    return service.day_detail(conn, freshness, principal, provider_id, carer_id, day)


@router.get(
    "/providers/{provider_id}/carer-days.csv",
    responses={**PROVIDERS_ONLY, **_csv_response("One row per carer per London day.")},
    response_class=Response,
)
def export_carer_days(
    provider_id: str,
    first: First,
    last: Last,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
) -> Response:
    """The provider's carers' days over [from, to] as CSV (columns in docs/carer-day.md)."""
    content = service.provider_csv(conn, freshness, principal, provider_id, first, last)
    return _csv(content, f"carer-days-{provider_id}-{first}-{last}.csv")


@router.get(
    "/providers/{provider_id}/pay-rates",
    response_model=schemas.PayRateList,
    responses=PROVIDERS_ONLY,
)
def list_pay_rates(provider_id: str, conn: ConnDep, principal: PrincipalDep) -> schemas.PayRateList:
    """The hourly pay rates the provider declared, oldest first."""
    return service.pay_rates(conn, principal, provider_id)


@router.put(
    "/providers/{provider_id}/pay-rate",
    response_model=schemas.PayRate,
    responses=PROVIDERS_ONLY,
)
def declare_pay_rate(
    provider_id: str,
    conn: ConnDep,
    principal: PrincipalDep,
    body: Annotated[schemas.PayRate, Body()],
) -> schemas.PayRate:
    """Declare what the provider pays its carers from a London day on: the hourly rate, and
    whether travel between visits is paid at it. Days before keep the rate then in force;
    declaring the same day again replaces it."""
    return service.declare_pay_rate(conn, principal, provider_id, body)


@router.get(
    "/councils/{council_id}/carer-days",
    response_model=schemas.CouncilCarerDays,
    response_model_by_alias=True,
    responses=COUNCILS_ONLY,
)
def council_carer_days(
    council_id: str,
    first: First,
    last: Last,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
) -> schemas.CouncilCarerDays:
    """Per commissioned provider over [from, to], naming no carer: carer-days, the share of
    carers' days below the pay floor, and travel minutes per contact hour. Figures of a
    provider with too few carer-days are withheld."""
    return service.council_report(conn, freshness, principal, council_id, first, last)


@router.get(
    "/councils/{council_id}/carer-days.csv",
    responses={**COUNCILS_ONLY, **_csv_response("One row per commissioned provider.")},
    response_class=Response,
)
def export_council_carer_days(
    council_id: str,
    first: First,
    last: Last,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
) -> Response:
    """The council's aggregates over [from, to] as CSV."""
    content = service.council_report_csv(conn, freshness, principal, council_id, first, last)
    return _csv(content, f"carer-days-{council_id}-{first}-{last}.csv")
