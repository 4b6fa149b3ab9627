"""Monitoring KPIs per provider, lot and London day (docs/visits.md); computed in visits.kpis."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ConnDep, FreshnessDep, PrincipalDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES
from api.visits.schemas import KpiReport
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
