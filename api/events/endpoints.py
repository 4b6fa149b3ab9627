from __future__ import annotations

from fastapi import APIRouter

from api.deps import ConnDep, PrincipalDep, ensure_admin
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, error_response
from api.events import service
from api.events.filters import EventScopeDep
from api.events.schemas import EventPage, QuarantinePage
from api.pagination import Limit, Offset

router = APIRouter(tags=["events"], responses=ERROR_RESPONSES)


@router.get(
    "/providers/{provider_id}/events", response_model=EventPage, responses=NOT_FOUND_RESPONSES
)
def list_events(
    conn: ConnDep, scope: EventScopeDep, limit: Limit = 500, offset: Offset = 0
) -> EventPage:
    """Stored events of one provider, ordered by device time then sequence number."""
    return service.list_events(conn, scope, limit=limit, offset=offset)


@router.get(
    "/quarantine",
    response_model=QuarantinePage,
    responses={403: error_response("Administrators only.")},
)
def list_quarantined(
    conn: ConnDep,
    principal: PrincipalDep,
    reason: str | None = None,
    limit: Limit = 500,
    offset: Offset = 0,
) -> QuarantinePage:
    """Messages ingest refused to store, oldest first."""
    ensure_admin(principal)
    return service.list_quarantined(conn, reason, limit=limit, offset=offset)
