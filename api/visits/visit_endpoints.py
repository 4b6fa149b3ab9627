"""Visits built from evidence, their corrections, and schedule import."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import ConnDep, FreshnessDep, PrincipalDep, SettingsDep, ensure_can_read_provider
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, Unprocessable, error_response
from api.pagination import Limit, Offset
from api.times import LondonDate
from api.visits.alert_action_endpoints import router as alert_actions_router
from api.visits.alert_endpoints import router as alerts_router
from api.visits.kpi_endpoints import router as kpis_router
from api.visits.people_endpoints import router as people_router
from api.visits.schemas import (
    Correction,
    CorrectionRequest,
    CouncilPolicy,
    ScheduleImport,
    Visit,
    VisitPage,
    VisitStatus,
    VisitSummary,
)
from api.visits.worklist_endpoints import router as worklist_router
from visits import service
from visits.views import Rejection

router = APIRouter(tags=["visits"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})
COUNCILS_ONLY: dict[int | str, dict[str, Any]] = {
    403: error_response("Administrators and councils only.")
}
MAX_SCHEDULE_BYTES = 20 * 1024 * 1024


@router.get("/providers/{provider_id}/visits", response_model=VisitPage)
def list_visits(
    provider_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    day: LondonDate = None,
    service_user_id: str | None = None,
    carer_id: str | None = None,
    status: VisitStatus | None = None,
    limit: Limit = 500,
    offset: Offset = 0,
) -> Response:
    """Visits ordered by start (check-in, else check-out, else planned start for a missed
    visit). `date` selects the London day a visit belongs to: the day of its first check-in, so
    a visit across midnight stays on the day it started."""
    ensure_can_read_provider(principal, provider_id)
    # The page's JSON comes from the database as it is (see repository.list_visits_json).
    page = service.list_visits_json(
        conn,
        freshness,
        provider_id,
        day=day,
        service_user_id=service_user_id,
        carer_id=carer_id,
        status=status,
        limit=limit,
        offset=offset,
    )
    return Response(page, media_type="application/json")


@router.get("/providers/{provider_id}/visits/summary", response_model=VisitSummary)
def summarise_visits(
    provider_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    day: LondonDate = None,
    service_user_id: str | None = None,
    carer_id: str | None = None,
) -> VisitSummary:
    """Complete and open carer stays, and visits by status, with the visit list's filters."""
    ensure_can_read_provider(principal, provider_id)
    return service.summarise_visits(
        conn,
        freshness,
        provider_id,
        day=day,
        service_user_id=service_user_id,
        carer_id=carer_id,
    )


@router.get("/providers/{provider_id}/visits/{visit_id}", response_model=Visit)
def get_visit(
    provider_id: str,
    visit_id: UUID,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
) -> Visit:
    """One visit with its carers' stays, the events behind them, its planned visit, its
    verification level, status and anomalies."""
    ensure_can_read_provider(principal, provider_id)
    return service.get_visit(conn, freshness, provider_id, visit_id)


@router.get(
    "/providers/{provider_id}/visits/{visit_id}/corrections", response_model=list[Correction]
)
def list_corrections(
    provider_id: str, visit_id: UUID, conn: ConnDep, principal: PrincipalDep
) -> list[Correction]:
    """Every correction of the visit, oldest first: who, when, why, before and after, and
    whether it awaits the council's approval."""
    ensure_can_read_provider(principal, provider_id)
    return service.list_corrections(conn, provider_id, visit_id)


@router.post(
    "/providers/{provider_id}/visits/{visit_id}/corrections",
    response_model=Correction,
    status_code=201,
)
def request_correction(
    provider_id: str,
    visit_id: UUID,
    body: CorrectionRequest,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
) -> Correction:
    """Correct a carer's stay with a reason code (docs/visits.md) and a note. The evidence is
    unchanged; a correction beyond the council's threshold counts only once approved."""
    ensure_can_read_provider(principal, provider_id)
    return service.request_correction(conn, freshness, principal, provider_id, visit_id, body)


@router.post(
    "/providers/{provider_id}/visits/{visit_id}/corrections/{correction_id}/approve",
    response_model=Correction,
    responses={**COUNCILS_ONLY, 409: error_response("Needs no approval, or already approved.")},
)
def approve_correction(
    provider_id: str,
    visit_id: UUID,
    correction_id: int,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
) -> Correction:
    """A council (or an administrator) approves a correction beyond its threshold."""
    return service.approve_correction(
        conn, freshness, principal, provider_id, visit_id, correction_id
    )


@router.post(
    "/providers/{provider_id}/visits/{visit_id}/corrections/{correction_id}/reject",
    response_model=Correction,
    responses={**COUNCILS_ONLY, 409: error_response("Needs no approval, or already decided.")},
)
def reject_correction(
    provider_id: str,
    visit_id: UUID,
    correction_id: int,
    body: Rejection,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
) -> Correction:
    """A council (or an administrator) rejects a correction beyond its threshold, saying why;
    it never counts, and the provider reads the reason beside it."""
    return service.reject_correction(
        conn, freshness, principal, provider_id, visit_id, correction_id, body.reason
    )


@router.post(
    "/schedules",
    response_model=ScheduleImport,
    responses=COUNCILS_ONLY,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_schedule(
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
    source: Annotated[str, Query(max_length=200)] = "api",
) -> ScheduleImport:
    """Import schedule.csv sent as the request body (text/csv). Bad rows come back with line
    numbers and reasons; the other rows are imported. A council imports its own service users
    only."""
    raw = await request.body()
    if len(raw) > MAX_SCHEDULE_BYTES:
        raise Unprocessable("schedule file larger than 20 MiB", code="schedule_invalid")
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unprocessable("schedule file is not UTF-8", code="schedule_invalid") from exc
    # The body is read on the event loop; the import's database work in the thread pool.
    return await run_in_threadpool(service.import_schedule_file, conn, principal, content, source)


@router.put("/councils/{council_id}/policy", response_model=CouncilPolicy, responses=COUNCILS_ONLY)
def set_policy(
    council_id: str,
    conn: ConnDep,
    principal: PrincipalDep,
    body: Annotated[CouncilPolicy, Body()],
) -> CouncilPolicy:
    """A council's thresholds: late after N minutes, missed cut-off (HH:MM London), and the
    minutes a correction may move before it needs approval."""
    return service.set_council_policy(conn, principal, council_id, body)


@router.get("/councils/{council_id}/policy", response_model=CouncilPolicy, responses=COUNCILS_ONLY)
def get_policy(
    council_id: str, conn: ConnDep, settings: SettingsDep, principal: PrincipalDep
) -> CouncilPolicy:
    """The thresholds in force for the council: its own, else the defaults."""
    return service.get_council_policy(conn, settings, principal, council_id)


router.include_router(alerts_router)
router.include_router(alert_actions_router)
router.include_router(worklist_router)
router.include_router(people_router)
router.include_router(kpis_router)
