from __future__ import annotations

from fastapi import APIRouter

from api.deps import ConnDep, PrincipalDep, ensure_admin, ensure_can_read_provider
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, error_response
from api.events import service
from api.events.schemas import EventPage, EventScope, QuarantinePage
from api.pagination import Limit, Offset
from api.times import LondonDate

router = APIRouter(tags=["events"], responses=ERROR_RESPONSES)


@router.get(
    "/providers/{provider_id}/events", response_model=EventPage, responses=NOT_FOUND_RESPONSES
)
def list_events(
    provider_id: str,
    conn: ConnDep,
    principal: PrincipalDep,
    day: LondonDate = None,
    service_user_id: str | None = None,
    carer_id: str | None = None,
    limit: Limit = 500,
    offset: Offset = 0,
) -> EventPage:
    """Stored events of one provider, ordered by device time then sequence number."""
    ensure_can_read_provider(principal, provider_id)
    scope = EventScope(provider_id, carer_id=carer_id, service_user_id=service_user_id)
    return service.list_events(conn, scope, day, limit=limit, offset=offset)


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
