"""Provider pages: today's visits (live, with the alerts that need someone first), the visit
log with filters (names or codes in any case), one visit's evidence in plain words, and
corrections (request; council approval or rejection).

Every read goes through the visits domain, as the API's endpoints do, after the same tenant
check (another tenant's provider is a 404), and every request is audited by PrincipalDep.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
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
    SettingsDep,
    ensure_can_read_provider,
)
from api.errors import DomainError, NotFound, Unprocessable
from api.portal import visit_evidence as evidence
from api.portal.evidence_map import Fix, evidence_map
from api.portal.pages import page
from api.portal.paths import PORTAL_PREFIX
from api.times import LONDON
from core.vocabulary import VisitStatus
from gateway.registry import names as registry_names
from gateway.registry.queries import require_provider
from visits import alert_console, manual_visits, people, service
from visits.access import is_council
from visits.corrections import REASON_CODES
from visits.days import london_date
from visits.freshness import VisitFreshness
from visits.views import CorrectionRequest

router = APIRouter()
PAGE_SIZE = 100
# Today's page can reload itself, so new evidence and alerts show without anyone pressing a key:
# when the person asks for it (?live=true), since a page that changes under someone reading it
# is a barrier unless they chose it (WCAG 2.2.1).
REFRESH_SECONDS = 30
STATUSES = tuple(VisitStatus)
MAX_RANGE_DAYS = 93
# The suggestions under a name field: enough for a provider's whole round.
SUGGESTIONS = 500


def visit_path(provider_id: str, visit_id: UUID | str) -> str:
    return f"{PORTAL_PREFIX}/providers/{provider_id}/visits/{visit_id}"


def optional(value: str | None) -> str | None:
    """An empty filter field in a GET form means no filter."""
    value = (value or "").strip()
    return value or None


def visit_names(conn: Connection, visits: list[Any], *, with_addresses: bool = False) -> Any:
    return registry_names.lookup(
        conn,
        carers=[s.carer_id for v in visits for s in getattr(v, "carers", [])],
        service_users=[v.service_user_id for v in visits],
        with_addresses=with_addresses,
    )


@router.get("/providers/{provider_id}/today", response_class=HTMLResponse)
def today_page(
    request: Request,
    provider_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    clock: ClockDep,
    live: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    ensure_can_read_provider(principal, provider_id)
    provider = require_provider(conn, provider_id)
    now = clock()
    today = london_date(now)
    # Alerts as of now, whether or not the `ecm visits` role has had its pass.
    freshness.alerts_fresh(now)
    attention = alert_console.provider_alerts(
        conn, settings, principal, provider_id, active_only=True, now=now
    )
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
    started = {v.planned_visit_ref for v in visits if v.planned_visit_ref is not None}
    to_come = [
        p for p in service.planned_on(conn, provider_id, today) if p.visit_ref not in started
    ]
    names = registry_names.lookup(
        conn,
        carers=[s.carer_id for v in visits for s in v.carers] + [a.assigned_to for a in attention],
        service_users=[v.service_user_id for v in visits]
        + [p.service_user_id for p in to_come]
        + [a.service_user_id for a in attention],
        with_addresses=True,
    )
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
        names=names,
        can_act=_can_request(principal),
        refresh_seconds=REFRESH_SECONDS,
        live=live,
        now=now.astimezone(LONDON),
    )


def _period(
    day: str | None, first: str | None, last: str | None
) -> tuple[date | None, date | None]:
    """`date` is one day; `from` and `to` a range (the KPI page links with them)."""
    one_day = _parse_day(optional(day), "Date")
    first_day = _parse_day(optional(first), "From") or one_day
    last_day = _parse_day(optional(last), "To") or one_day or first_day
    if first_day is None and last_day is not None:
        first_day = last_day
    if first_day is not None and last_day is not None:
        if last_day < first_day:
            raise Unprocessable("the To date is before the From date")
        if (last_day - first_day).days >= MAX_RANGE_DAYS:
            raise Unprocessable(f"choose at most {MAX_RANGE_DAYS} days at a time")
    return first_day, last_day


def _parse_day(value: str | None, label: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Unprocessable(f"{label}: {value!r} is not a date like 2026-02-10") from exc


@router.get("/providers/{provider_id}/visits", response_class=HTMLResponse)
def visit_log_page(
    request: Request,
    provider_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    day: Annotated[str | None, Query(alias="date", max_length=10)] = None,
    first: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    carer: Annotated[str | None, Query(max_length=200)] = None,
    service_user: Annotated[str | None, Query(max_length=200)] = None,
    carer_id: Annotated[str | None, Query(max_length=200)] = None,
    service_user_id: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HTMLResponse:
    ensure_can_read_provider(principal, provider_id)
    provider = require_provider(conn, provider_id)
    typed_dates = {"from": optional(first) or optional(day), "to": optional(last) or optional(day)}
    try:
        first_day, last_day = _period(day, first, last)
    except Unprocessable as exc:
        # The form comes back with what was typed and what is wrong; no visits are listed.
        return page(
            request,
            "visit_log.html",
            principal,
            status_code=422,
            provider=provider,
            visits=[],
            names=registry_names.Names(),
            offset=0,
            previous_url=None,
            next_url=None,
            filters={
                "from": typed_dates["from"] or "",
                "to": typed_dates["to"] or "",
                "carer": optional(carer) or optional(carer_id) or "",
                "service_user": optional(service_user) or optional(service_user_id) or "",
                "status": optional(status),
            },
            carer_match=people.Resolved(None, []),
            user_match=people.Resolved(None, []),
            unresolved=True,
            error=exc.message,
            everyone=people.provider_people(conn, principal, provider_id, "", limit=SUGGESTIONS),
            statuses=STATUSES,
            query={},
            base=f"{PORTAL_PREFIX}/providers/{provider_id}/visits",
        )
    chosen_status = optional(status)
    if chosen_status is not None and chosen_status not in STATUSES:
        raise Unprocessable(f"unknown status {chosen_status}")
    everyone = people.provider_people(conn, principal, provider_id, "", limit=SUGGESTIONS)
    typed_carer = optional(carer) or optional(carer_id)
    typed_user = optional(service_user) or optional(service_user_id)
    carer_match = people.resolve(
        typed_carer,
        people.provider_people(conn, principal, provider_id, typed_carer or "").carers,
    )
    user_match = people.resolve(
        typed_user,
        people.provider_people(conn, principal, provider_id, typed_user or "").service_users,
    )
    unresolved = (typed_carer is not None and carer_match.id is None) or (
        typed_user is not None and user_match.id is None
    )
    visits: list[Any] = []
    next_offset = None
    if not unresolved:
        found = service.list_visits(
            conn,
            freshness,
            provider_id,
            day=None,
            service_user_id=user_match.id,
            carer_id=carer_match.id,
            status=chosen_status,
            limit=PAGE_SIZE,
            offset=offset,
            between=(first_day, last_day) if first_day and last_day else None,
        )
        visits, next_offset = found.items, found.next_offset
    query = {
        k: v
        for k, v in {
            "from": first_day.isoformat() if first_day else None,
            "to": last_day.isoformat() if last_day else None,
            "carer": typed_carer,
            "service_user": typed_user,
            "status": chosen_status,
        }.items()
        if v is not None
    }
    base = f"{PORTAL_PREFIX}/providers/{provider_id}/visits"
    return page(
        request,
        "visit_log.html",
        principal,
        provider=provider,
        visits=visits,
        names=visit_names(conn, visits),
        offset=offset,
        previous_url=f"{base}?{urlencode({**query, 'offset': max(offset - PAGE_SIZE, 0)})}"
        if offset > 0
        else None,
        next_url=f"{base}?{urlencode({**query, 'offset': next_offset})}"
        if next_offset is not None
        else None,
        filters={
            "from": first_day.isoformat() if first_day else "",
            "to": last_day.isoformat() if last_day else "",
            "carer": typed_carer or "",
            "service_user": typed_user or "",
            "status": chosen_status,
        },
        carer_match=carer_match,
        user_match=user_match,
        unresolved=unresolved,
        everyone=everyone,
        statuses=STATUSES,
        query=query,
        base=base,
    )


@router.get("/providers/{provider_id}/visits/{visit_id}", response_class=HTMLResponse)
def visit_page(
    request: Request,
    provider_id: str,
    visit_id: UUID,
    conn: ConnDep,
    freshness: FreshnessDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    ensure_can_read_provider(principal, provider_id)
    return render_visit(request, conn, freshness, principal, provider_id, visit_id)


def render_visit(
    request: Request,
    conn: Connection,
    freshness: VisitFreshness,
    principal: Principal,
    provider_id: str,
    visit_id: UUID,
    *,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    visit = service.get_visit(conn, freshness, provider_id, visit_id)
    events = evidence.visit_events(conn, provider_id, visit)
    home = evidence.visit_home(conn, visit)
    corrections = service.list_corrections(conn, provider_id, visit_id)
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
    alert = None
    manual = []
    if visit.planned_visit_ref is not None:
        alert = alert_console.alert_for_plan(
            conn, freshness.settings, provider_id, visit.planned_visit_ref
        )
        manual = manual_visits.of_plan(conn, provider_id, visit.planned_visit_ref)
    names = registry_names.lookup(
        conn,
        carers=[s.carer_id for s in visit.carers]
        + [e.carer_id for e in events]
        + [c.carer_id for c in corrections]
        + [m.carer_id for m in manual],
        service_users=[visit.service_user_id],
        with_addresses=True,
    )
    return page(
        request,
        "visit.html",
        principal,
        status_code=status_code,
        visit=visit,
        events=events,
        home=home,
        drawing=drawing,
        corrections=corrections,
        reason_codes=REASON_CODES,
        can_request=_can_request(principal),
        can_approve=principal.is_admin or is_council(principal),
        error=error,
        form=form or {},
        notice=request.query_params.get("notice"),
        names=names,
        alert=alert,
        manual_records=manual,
        carers=people.provider_people(conn, principal, provider_id, "", limit=SUGGESTIONS).carers,
    )


def _can_request(principal: Principal) -> bool:
    # Corrections are the provider's to make (an administrator may act for one).
    return principal.provider_id is not None or principal.is_admin


def london_input(value: str | None, field: str) -> datetime | None:
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
    reason_code: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    carer_id: Annotated[str | None, Form(max_length=200)] = None,
    check_in: Annotated[str | None, Form(max_length=40)] = None,
    check_out: Annotated[str | None, Form(max_length=40)] = None,
) -> HTMLResponse | RedirectResponse:
    ensure_can_read_provider(principal, provider_id)
    # What was typed comes back with any error, so nobody types it twice.
    form = {
        "reason_code": reason_code,
        "note": note,
        "carer_id": carer_id,
        "check_in": check_in,
        "check_out": check_out,
    }
    if not _can_request(principal):
        return render_visit(
            request,
            conn,
            freshness,
            principal,
            provider_id,
            visit_id,
            error="Only the provider can request a correction.",
            status_code=403,
            form=form,
        )
    try:
        if reason_code not in REASON_CODES:
            raise Unprocessable("choose the reason for the correction")
        if not note.strip():
            raise Unprocessable("write a note saying what happened")
        # The form is filled in with the recorded times: a field left as it was corrects nothing
        # (it shows whole minutes, so sending it back would move the time by its seconds).
        shown = service.get_visit(conn, freshness, provider_id, visit_id)
        body = CorrectionRequest(
            carer_id=optional(carer_id),
            check_in=_changed(london_input(check_in, "check-in"), shown.check_in),
            check_out=_changed(london_input(check_out, "check-out"), shown.check_out),
            reason_code=reason_code,
            note=note.strip(),
        )
        if body.check_in is None and body.check_out is None:
            raise Unprocessable("change the check-in, the check-out or both")
        correction = service.request_correction(
            conn, freshness, principal, provider_id, visit_id, body
        )
    except Unprocessable as exc:
        # The form is shown again with the reason and what was typed; nothing changed.
        return render_visit(
            request,
            conn,
            freshness,
            principal,
            provider_id,
            visit_id,
            error=exc.message,
            status_code=exc.status_code,
            form=form,
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
        return render_visit(
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


@router.post(
    "/providers/{provider_id}/visits/{visit_id}/corrections/{correction_id}/reject",
    response_model=None,
)
def reject_correction(
    request: Request,
    provider_id: str,
    visit_id: UUID,
    correction_id: int,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse | RedirectResponse:
    ensure_can_read_provider(principal, provider_id)
    try:
        service.reject_correction(
            conn, freshness, principal, provider_id, visit_id, correction_id, reason
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return render_visit(
            request,
            conn,
            freshness,
            principal,
            provider_id,
            visit_id,
            error=exc.message,
            status_code=exc.status_code,
            form={"reject_reason": reason, "reject_id": correction_id},
        )
    return RedirectResponse(f"{visit_path(provider_id, visit_id)}?notice=correction-rejected", 303)
