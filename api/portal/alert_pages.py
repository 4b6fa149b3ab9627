"""The alert console for providers: the alerts that need someone, one alert with its history,
and what to do about it (acknowledge, give a reason and a note, send a carer, resolve as not
delivered, or record the visit as delivered by hand for the council to approve). Council
officers read the same pages without the forms.

The rules are the visits domain's (visits.alert_console, visits.manual_visits), as the API's;
every request is audited by PrincipalDep. A refused form is shown again with what was typed."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
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
from api.portal.pages import page
from api.portal.paths import PORTAL_PREFIX
from api.portal.visit_pages import SUGGESTIONS, london_input, render_visit, visit_path
from core.settings import Settings
from gateway.registry import names as registry_names
from gateway.registry.queries import require_provider
from visits import alert_console, manual_visits, people
from visits.pairing import MISSED_NAMESPACE
from visits.views import ManualVisitRequest

router = APIRouter()


def alert_path(provider_id: str, alert_id: int) -> str:
    return f"{PORTAL_PREFIX}/providers/{provider_id}/alerts/{alert_id}"


def _can_act(principal: Principal) -> bool:
    return principal.provider_id is not None or principal.is_admin


@router.get("/providers/{provider_id}/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    provider_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    clock: ClockDep,
    show: Annotated[str, Query(max_length=10)] = "active",
) -> HTMLResponse:
    ensure_can_read_provider(principal, provider_id)
    provider = require_provider(conn, provider_id)
    now = clock()
    freshness.alerts_fresh(now)
    active_only = show != "all"
    alerts = alert_console.provider_alerts(
        conn, settings, principal, provider_id, active_only=active_only, now=now
    )
    names = registry_names.lookup(
        conn,
        service_users=[a.service_user_id for a in alerts],
        carers=[a.assigned_to for a in alerts],
        with_addresses=True,
    )
    return page(
        request,
        "alerts.html",
        principal,
        provider=provider,
        alerts=alerts,
        names=names,
        active_only=active_only,
        can_act=_can_act(principal),
    )


def _render_alert(
    request: Request,
    conn: Connection,
    settings: Settings,
    principal: Principal,
    provider_id: str,
    alert_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
) -> HTMLResponse:
    provider = require_provider(conn, provider_id)
    alert = alert_console.get_alert(conn, settings, principal, provider_id, alert_id)
    carers = people.provider_people(conn, principal, provider_id, "", limit=SUGGESTIONS).carers
    records = manual_visits.of_plan(conn, provider_id, alert.visit_ref)
    names = registry_names.lookup(
        conn,
        service_users=[alert.service_user_id],
        carers=[alert.assigned_to, *(a.assigned_to for a in alert.actions)]
        + [r.carer_id for r in records],
        with_addresses=True,
    )
    return page(
        request,
        "alert.html",
        principal,
        status_code=status_code,
        provider=provider,
        alert=alert,
        names=names,
        carers=carers,
        records=records,
        reasons=alert_console.ALERT_REASONS,
        not_delivered_reasons={
            code: words
            for code, words in alert_console.ALERT_REASONS.items()
            if code != alert_console.DELIVERED_REASON
        },
        can_act=_can_act(principal),
        error=error,
        form=form or {},
        notice=request.query_params.get("notice"),
    )


@router.get("/providers/{provider_id}/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(
    request: Request,
    provider_id: str,
    alert_id: int,
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    ensure_can_read_provider(principal, provider_id)
    return _render_alert(request, conn, settings, principal, provider_id, alert_id)


def _back(provider_id: str, alert_id: int, back: str | None, notice: str) -> RedirectResponse:
    if back == "today":
        target = f"{PORTAL_PREFIX}/providers/{provider_id}/today"
    else:
        target = alert_path(provider_id, alert_id)
    return RedirectResponse(f"{target}?notice={notice}", status_code=303)


@router.post("/providers/{provider_id}/alerts/{alert_id}/acknowledge", response_model=None)
def acknowledge(
    request: Request,
    provider_id: str,
    alert_id: int,
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    clock: ClockDep,
    reason_code: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str, Form(max_length=10)] = "",
) -> HTMLResponse | RedirectResponse:
    ensure_can_read_provider(principal, provider_id)
    try:
        alert_console.acknowledge(
            conn, principal, provider_id, alert_id, reason_code=reason_code, note=note, now=clock()
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return _render_alert(
            request,
            conn,
            settings,
            principal,
            provider_id,
            alert_id,
            error=exc.message,
            status_code=exc.status_code,
            form={"ack_reason": reason_code, "ack_note": note},
        )
    return _back(provider_id, alert_id, back, "acknowledged")


@router.post("/providers/{provider_id}/alerts/{alert_id}/assign", response_model=None)
def assign(
    request: Request,
    provider_id: str,
    alert_id: int,
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    clock: ClockDep,
    carer_id: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse | RedirectResponse:
    ensure_can_read_provider(principal, provider_id)
    try:
        if not carer_id.strip():
            raise Unprocessable("choose the carer to send")
        alert_console.assign(
            conn, principal, provider_id, alert_id, carer_id=carer_id, note=note, now=clock()
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return _render_alert(
            request,
            conn,
            settings,
            principal,
            provider_id,
            alert_id,
            error=exc.message,
            status_code=exc.status_code,
            form={"assign_carer": carer_id, "assign_note": note},
        )
    return _back(provider_id, alert_id, None, "assigned")


@router.post("/providers/{provider_id}/alerts/{alert_id}/resolve", response_model=None)
def resolve(
    request: Request,
    provider_id: str,
    alert_id: int,
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    clock: ClockDep,
    reason_code: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse | RedirectResponse:
    ensure_can_read_provider(principal, provider_id)
    try:
        alert_console.resolve(
            conn, principal, provider_id, alert_id, reason_code=reason_code, note=note, now=clock()
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return _render_alert(
            request,
            conn,
            settings,
            principal,
            provider_id,
            alert_id,
            error=exc.message,
            status_code=exc.status_code,
            form={"resolve_reason": reason_code, "resolve_note": note},
        )
    return _back(provider_id, alert_id, None, "resolved")


@router.post("/providers/{provider_id}/manual-visits", response_model=None)
def record_delivered(
    request: Request,
    provider_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    clock: ClockDep,
    visit_ref: Annotated[str, Form(max_length=200)],
    carer_id: Annotated[str, Form(max_length=200)] = "",
    check_in: Annotated[str, Form(max_length=40)] = "",
    check_out: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    alert_id: Annotated[int | None, Form()] = None,
    back: Annotated[str, Form(max_length=10)] = "",
) -> HTMLResponse | RedirectResponse:
    """Record as delivered, from the alert page or the missed visit's page."""
    ensure_can_read_provider(principal, provider_id)
    form = {"mv_carer": carer_id, "mv_check_in": check_in, "mv_check_out": check_out}
    form["mv_note"] = note
    try:
        if not carer_id.strip():
            raise Unprocessable("choose the carer who went")
        arrived = london_input(check_in, "arrived")
        left = london_input(check_out, "left")
        if arrived is None or left is None:
            raise Unprocessable("give the times the carer arrived and left")
        if not note.strip():
            raise Unprocessable("write how you know the visit happened")
        manual_visits.request_manual_visit(
            conn,
            principal,
            provider_id,
            ManualVisitRequest(
                visit_ref=visit_ref, carer_id=carer_id, check_in=arrived, check_out=left, note=note
            ),
            clock(),
        )
    except DomainError as exc:
        if isinstance(exc, NotFound) or (alert_id is None and back != "visit"):
            raise
        if back == "visit":
            visit = _missed_visit_id(visit_ref)
            return render_visit(
                request,
                conn,
                freshness,
                principal,
                provider_id,
                visit,
                error=exc.message,
                status_code=exc.status_code,
                form=form,
            )
        assert alert_id is not None
        return _render_alert(
            request,
            conn,
            settings,
            principal,
            provider_id,
            alert_id,
            error=exc.message,
            status_code=exc.status_code,
            form=form,
        )
    if back == "visit":
        visit = _missed_visit_id(visit_ref)
        return RedirectResponse(
            f"{visit_path(provider_id, visit)}?notice=manual-visit-recorded", 303
        )
    if alert_id is not None:
        return _back(provider_id, alert_id, None, "delivered")
    return RedirectResponse(f"{PORTAL_PREFIX}/providers/{provider_id}/alerts", 303)


def _missed_visit_id(visit_ref: str) -> UUID:
    """The missed visit of a planned visit keeps its id when it is delivered by hand."""
    return uuid.uuid5(MISSED_NAMESPACE, visit_ref)
