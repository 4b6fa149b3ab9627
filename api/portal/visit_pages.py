"""Provider pages: today's visits (live), the visit log with filters, one visit's evidence, and
corrections (request; council approval).

Every read goes through visits.service, as the API's endpoints do, after the same tenant
check (another tenant's provider is a 404), and every request is audited by PrincipalDep.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Connection

from api.deps import (
    ClockDep,
    ConnDep,
    FreshnessDep,
    Principal,
    PrincipalDep,
    ensure_can_read_provider,
)
from api.errors import DomainError, NotFound, Unprocessable
from api.portal import visit_evidence as evidence
from api.portal.evidence_map import Fix, evidence_map
from api.portal.pages import page
from api.portal.paths import PORTAL_PREFIX
from api.times import LONDON
from core.vocabulary import VisitStatus
from gateway.registry.queries import list_carers, require_provider
from visits import service
from visits.access import is_council
from visits.corrections import REASON_CODES
from visits.days import london_date
from visits.freshness import VisitFreshness
from visits.views import CorrectionRequest

router = APIRouter()
PAGE_SIZE = 100
# Today's page reloads itself: new evidence and alerts show without anyone pressing a key.
REFRESH_SECONDS = 30
STATUSES = tuple(VisitStatus)
ATTENTION = frozenset({VisitStatus.LATE, VisitStatus.MISSED})


def visit_path(provider_id: str, visit_id: UUID | str) -> str:
    return f"{PORTAL_PREFIX}/providers/{provider_id}/visits/{visit_id}"


def optional(value: str | None) -> str | None:
    """An empty filter field in a GET form means no filter."""
    value = (value or "").strip()
    return value or None


@router.get("/providers/{provider_id}/today", response_class=HTMLResponse)
def today_page(
    request: Request,
    provider_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> HTMLResponse:
    ensure_can_read_provider(principal, provider_id)
    provider = require_provider(conn, provider_id)
    now = clock()
    today = london_date(now)
    visits = service.list_visits(
        conn,
        freshness,
        provider_id,
        day=today,
        service_user_id=None,
        carer_id=None,
        status=None,
        limit=1000,
        offset=0,
        now=now,
    ).items
    summary = service.summarise_visits(
        conn, freshness, provider_id, day=today, service_user_id=None, carer_id=None, now=now
    )
    attention = [v for v in visits if v.status in ATTENTION]
    started = {v.planned_visit_ref for v in visits if v.planned_visit_ref is not None}
    to_come = [
        p for p in service.planned_on(conn, provider_id, today) if p.visit_ref not in started
    ]
    return page(
        request,
        "provider_today.html",
        principal,
        provider=provider,
        day=today,
        visits=visits,
        attention=attention,
        to_come=to_come,
        summary=summary,
        refresh_seconds=REFRESH_SECONDS,
        now=now.astimezone(LONDON),
    )


@router.get("/providers/{provider_id}/visits", response_class=HTMLResponse)
def visit_log_page(
    request: Request,
    provider_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    day: Annotated[str | None, Query(alias="date", max_length=10)] = None,
    carer_id: Annotated[str | None, Query(max_length=200)] = None,
    service_user_id: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HTMLResponse:
    ensure_can_read_provider(principal, provider_id)
    provider = require_provider(conn, provider_id)
    filters = {
        "date": optional(day),
        "carer_id": optional(carer_id),
        "service_user_id": optional(service_user_id),
        "status": optional(status),
    }
    chosen_day = _parse_day(filters["date"])
    if filters["status"] is not None and filters["status"] not in STATUSES:
        raise Unprocessable(f"unknown status {filters['status']}")
    visits = service.list_visits(
        conn,
        freshness,
        provider_id,
        day=chosen_day,
        service_user_id=filters["service_user_id"],
        carer_id=filters["carer_id"],
        status=filters["status"],
        limit=PAGE_SIZE,
        offset=offset,
    )
    return page(
        request,
        "visit_log.html",
        principal,
        provider=provider,
        visits=visits.items,
        next_offset=visits.next_offset,
        offset=offset,
        filters=filters,
        statuses=STATUSES,
        carers=list_carers(conn, provider_id),
        query={k: v for k, v in filters.items() if v is not None},
    )


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Unprocessable(f"date {value!r} is not YYYY-MM-DD") from exc


@router.get("/providers/{provider_id}/visits/{visit_id}", response_class=HTMLResponse)
def visit_page(
    request: Request,
    provider_id: str,
    visit_id: UUID,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    ensure_can_read_provider(principal, provider_id)
    return _render_visit(request, conn, freshness, principal, provider_id, visit_id)


def _render_visit(
    request: Request,
    conn: Connection,
    freshness: VisitFreshness,
    principal: Principal,
    provider_id: str,
    visit_id: UUID,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    visit = service.get_visit(conn, freshness, provider_id, visit_id)
    events = evidence.visit_events(conn, provider_id, visit)
    home = evidence.visit_home(conn, visit)
    drawing = None
    if home is not None:
        fixes = [
            Fix(
                label="Check-in" if e.event_type == "check_in" else "Check-out",
                kind=e.event_type,
                lat=e.gps_lat,
                lon=e.gps_lon,
                accuracy_m=e.gps_accuracy_m,
                distance_m=e.gps_distance_m,
                within_fence=e.gps_within_fence,
            )
            for e in events
            if e.gps_lat is not None and e.gps_lon is not None
        ]
        drawing = evidence_map(home.lat, home.lon, home.geofence_m, fixes)
    return page(
        request,
        "visit.html",
        principal,
        status_code=status_code,
        visit=visit,
        events=events,
        home=home,
        drawing=drawing,
        corrections=service.list_corrections(conn, provider_id, visit_id),
        reason_codes=REASON_CODES,
        can_request=_can_request(principal),
        can_approve=principal.is_admin or is_council(principal),
        error=error,
        notice=request.query_params.get("notice"),
    )


def _can_request(principal: Principal) -> bool:
    # Corrections are the provider's to make (an administrator may act for one).
    return principal.provider_id is not None or principal.is_admin


def _london_input(value: str | None, field: str) -> datetime | None:
    """A datetime-local field holds London wall-clock time without an offset."""
    value = optional(value)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Unprocessable(f"{field}: {value!r} is not a date and time") from exc
    return moment.replace(tzinfo=LONDON) if moment.tzinfo is None else moment


def _changed(submitted: datetime | None, recorded: datetime | None) -> datetime | None:
    if submitted is None or recorded is None:
        return submitted
    return None if submitted == recorded.replace(second=0, microsecond=0) else submitted


@router.post("/providers/{provider_id}/visits/{visit_id}/corrections", response_model=None)
def request_correction(
    request: Request,
    provider_id: str,
    visit_id: UUID,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    reason_code: Annotated[str, Form(max_length=64)],
    note: Annotated[str, Form(max_length=2000)],
    carer_id: Annotated[str | None, Form(max_length=200)] = None,
    check_in: Annotated[str | None, Form(max_length=40)] = None,
    check_out: Annotated[str | None, Form(max_length=40)] = None,
) -> HTMLResponse | RedirectResponse:
    ensure_can_read_provider(principal, provider_id)
    if not _can_request(principal):
        return _render_visit(
            request,
            conn,
            freshness,
            principal,
            provider_id,
            visit_id,
            error="Only the provider can request a correction.",
            status_code=403,
        )
    try:
        # The form is filled in with the recorded times: a field left as it was corrects nothing
        # (it shows whole minutes, so sending it back would move the time by its seconds).
        shown = service.get_visit(conn, freshness, provider_id, visit_id)
        body = CorrectionRequest(
            carer_id=optional(carer_id),
            check_in=_changed(_london_input(check_in, "check-in"), shown.check_in),
            check_out=_changed(_london_input(check_out, "check-out"), shown.check_out),
            reason_code=reason_code,
            note=note.strip() or "-",
        )
        if body.check_in is None and body.check_out is None:
            raise Unprocessable("give a corrected check-in, check-out or both")
        correction = service.request_correction(
            conn, freshness, principal, provider_id, visit_id, body
        )
    except Unprocessable as exc:
        # The form is shown again with the reason; the visit itself is unchanged.
        return _render_visit(
            request,
            conn,
            freshness,
            principal,
            provider_id,
            visit_id,
            error=exc.message,
            status_code=exc.status_code,
        )
    notice = "correction-awaits-approval" if correction.needs_approval else "correction-recorded"
    return RedirectResponse(f"{visit_path(provider_id, visit_id)}?notice={notice}", 303)


@router.post(
    "/providers/{provider_id}/visits/{visit_id}/corrections/{correction_id}/approve",
    response_model=None,
)
def approve_correction(
    request: Request,
    provider_id: str,
    visit_id: UUID,
    correction_id: int,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
) -> HTMLResponse | RedirectResponse:
    ensure_can_read_provider(principal, provider_id)
    try:
        service.approve_correction(conn, freshness, principal, provider_id, visit_id, correction_id)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return _render_visit(
            request,
            conn,
            freshness,
            principal,
            provider_id,
            visit_id,
            error=exc.message,
            status_code=exc.status_code,
        )
    return RedirectResponse(f"{visit_path(provider_id, visit_id)}?notice=correction-approved", 303)
