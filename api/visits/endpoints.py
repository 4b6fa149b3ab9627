from __future__ import annotations

from fastapi import APIRouter

from api.deps import ConnDep, PrincipalDep, ensure_can_read_provider
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES
from api.events.schemas import EventScope
from api.pagination import Limit, Offset
from api.times import LondonDate
from api.visits import service
from api.visits.schemas import VisitPage, VisitSummary

router = APIRouter(tags=["visits"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})


@router.get("/providers/{provider_id}/visits", response_model=VisitPage)
def list_visits(
    provider_id: str,
    conn: ConnDep,
    principal: PrincipalDep,
    day: LondonDate = None,
    service_user_id: str | None = None,
    carer_id: str | None = None,
    limit: Limit = 500,
    offset: Offset = 0,
) -> VisitPage:
    """Visits ordered by check-in time (check-out time for a visit without a check-in).

    `date` selects visits that began on that London day; a visit across midnight stays on
    the day of its check-in."""
    ensure_can_read_provider(principal, provider_id)
    scope = EventScope(provider_id, carer_id=carer_id, service_user_id=service_user_id)
    return service.list_visits(conn, scope, day, limit=limit, offset=offset)


@router.get("/providers/{provider_id}/visits/summary", response_model=VisitSummary)
def summarise_visits(
    provider_id: str,
    conn: ConnDep,
    principal: PrincipalDep,
    day: LondonDate = None,
    service_user_id: str | None = None,
    carer_id: str | None = None,
) -> VisitSummary:
    """Counts of complete and open visits, with the same filters as the visit list."""
    ensure_can_read_provider(principal, provider_id)
    scope = EventScope(provider_id, carer_id=carer_id, service_user_id=service_user_id)
    return service.summarise_visits(conn, scope, day)
