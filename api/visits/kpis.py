"""Monitoring KPIs per provider, lot and London day (docs/visits.md)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ConnDep, PrincipalDep, SettingsDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, Unprocessable
from api.visits.access import ensure_council_reader
from api.visits.schemas import KpiReport, ProviderKpis
from api.visits.service import fresh
from visits import kpis

router = APIRouter(tags=["kpis"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})
MAX_DAYS = 400


@router.get("/kpis", response_model=KpiReport, response_model_by_alias=True)
def council_kpis(
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    council_id: str,
    first_day: Annotated[date, Query(alias="from", description="First London day.")],
    last_day: Annotated[date, Query(alias="to", description="Last London day, inclusive.")],
    provider_id: str | None = None,
) -> KpiReport:
    """Per provider and lot of the council over [from, to]: counts per day and the period's
    shares. A provider caller sees its own rows only."""
    if last_day < first_day or (last_day - first_day).days >= MAX_DAYS:
        raise Unprocessable(f"`to` must be on or after `from`, at most {MAX_DAYS} days")
    own = ensure_council_reader(principal, council_id)
    if own is not None:
        provider_id = own
    fresh(conn, settings)
    found = kpis.council_kpis(conn, council_id, first_day, last_day, provider_id=provider_id)
    return KpiReport.model_validate(
        {
            "council_id": council_id,
            "from": first_day,
            "to": last_day,
            "providers": [
                ProviderKpis.model_validate(
                    {
                        **entry.__dict__,
                        "on_time_15_share": entry.on_time_15_share,
                        "on_time_30_share": entry.on_time_30_share,
                        "planned_minutes_delivered_share": entry.planned_minutes_delivered_share,
                        "tag_or_code_verified_share": entry.tag_or_code_verified_share,
                    }
                )
                for entry in found
            ],
        }
    )
