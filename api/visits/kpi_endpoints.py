"""Monitoring KPIs per provider, lot and London day (docs/visits.md); computed in visits.kpis."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import ConnDep, FreshnessDep, PrincipalDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES
from api.visits.schemas import KpiReport
from reconciliation.kpi_report import council_report, report_csv
from visits import service

router = APIRouter(tags=["kpis"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})


@router.get("/kpis", response_model=KpiReport, response_model_by_alias=True)
def council_kpis(
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    council_id: str,
    first_day: Annotated[date, Query(alias="from", description="First London day.")],
    last_day: Annotated[date, Query(alias="to", description="Last London day, inclusive.")],
    provider_id: str | None = None,
) -> KpiReport:
    """Per provider and lot of the council over [from, to]: counts per day and the period's
    shares. A provider caller sees its own rows only."""
    found = service.council_kpis(
        conn, freshness, principal, council_id, first_day, last_day, provider_id=provider_id
    )
    return KpiReport.model_validate(
        {"council_id": council_id, "from": first_day, "to": last_day, "providers": found}
    )


@router.get(
    "/kpis.csv",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": 'One row per provider, lot and week, then the period ("all").',
        }
    },
)
def council_kpis_csv(
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    council_id: str,
    first_day: Annotated[date, Query(alias="from", description="First London day.")],
    last_day: Annotated[date, Query(alias="to", description="Last London day, inclusive.")],
) -> Response:
    """The KPIs as CSV for a spreadsheet: per provider (code and name), lot and week, the
    counts, the shares in per cent and how each stands against the contract's targets. A
    provider caller gets its own rows only."""
    report = council_report(conn, freshness, principal, council_id, first_day, last_day)
    name = f"kpis-{first_day}-to-{last_day}.csv"
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        # The file's name from the dates only: a header carries no text the caller chose.
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
