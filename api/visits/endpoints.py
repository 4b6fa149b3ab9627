from __future__ import annotations

from fastapi import APIRouter

from api.deps import ConnDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES
from api.events.filters import EventScopeDep
from api.pagination import Limit, Offset
from api.visits import service
from api.visits.schemas import VisitPage, VisitSummary

router = APIRouter(tags=["visits"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})


@router.get("/providers/{provider_id}/visits", response_model=VisitPage)
def list_visits(
    conn: ConnDep, scope: EventScopeDep, limit: Limit = 500, offset: Offset = 0
) -> VisitPage:
    """Visits ordered by check-in time (check-out time for a visit without a check-in).

    `date` selects visits that began on that London day; a visit across midnight stays on
    the day of its check-in."""
    return service.list_visits(conn, scope, limit=limit, offset=offset)


@router.get("/providers/{provider_id}/visits/summary", response_model=VisitSummary)
def summarise_visits(conn: ConnDep, scope: EventScopeDep) -> VisitSummary:
    """Counts of complete and open visits, with the same filters as the visit list."""
    return service.summarise_visits(conn, scope)
