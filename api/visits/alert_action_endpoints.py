"""What a provider does about an alert over HTTP: read it with its history, acknowledge it
(with a reason and a note), assign a carer, resolve it as not delivered; and manual visit
records for a planned visit delivered without evidence (visits.alert_console,
visits.manual_visits). Council officers read; the provider acts (403 for a council)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ClockDep, ConnDep, PrincipalDep, SettingsDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, error_response
from visits import alert_console, manual_visits
from visits.views import (
    AlertAssignment,
    AlertDetail,
    AlertNote,
    AlertResolution,
    ManualVisit,
    ManualVisitList,
    ManualVisitRequest,
)

router = APIRouter(tags=["alerts"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})
ALERT = "/providers/{provider_id}/alerts/{alert_id}"
PROVIDER_ACTS: dict[int | str, dict[str, Any]] = {
    403: error_response("The provider acts on its alerts; councils read them."),
    409: error_response("The alert is already resolved."),
}


@router.get(ALERT, response_model=AlertDetail)
def get_alert(
    provider_id: str, alert_id: int, conn: ConnDep, settings: SettingsDep, principal: PrincipalDep
) -> AlertDetail:
    """One alert with everything done about it, oldest first."""
    return alert_console.get_alert(conn, settings, principal, provider_id, alert_id)


@router.post(ALERT + "/acknowledge", response_model=AlertDetail, responses=PROVIDER_ACTS)
def acknowledge_alert(
    provider_id: str,
    alert_id: int,
    body: AlertNote,
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> AlertDetail:
    """Someone is dealing with it; optionally a reason (docs/visits.md, "Alert console") and a
    note. Again later: adds the reason and note to its history."""
    alert_console.acknowledge(
        conn,
        principal,
        provider_id,
        alert_id,
        reason_code=body.reason_code,
        note=body.note,
        now=clock(),
    )
    return alert_console.get_alert(conn, settings, principal, provider_id, alert_id)


@router.post(ALERT + "/assign", response_model=AlertDetail, responses=PROVIDER_ACTS)
def assign_alert(
    provider_id: str,
    alert_id: int,
    body: AlertAssignment,
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> AlertDetail:
    """Send one of the provider's carers to deal with it."""
    alert_console.assign(
        conn, principal, provider_id, alert_id, carer_id=body.carer_id, note=body.note, now=clock()
    )
    return alert_console.get_alert(conn, settings, principal, provider_id, alert_id)


@router.post(ALERT + "/resolve", response_model=AlertDetail, responses=PROVIDER_ACTS)
def resolve_alert(
    provider_id: str,
    alert_id: int,
    body: AlertResolution,
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> AlertDetail:
    """Close it as not delivered, with the reason and a note. A visit that did happen is
    recorded with POST /providers/{provider_id}/manual-visits instead."""
    alert_console.resolve(
        conn,
        principal,
        provider_id,
        alert_id,
        reason_code=body.reason_code,
        note=body.note,
        now=clock(),
    )
    return alert_console.get_alert(conn, settings, principal, provider_id, alert_id)


@router.post(
    "/providers/{provider_id}/manual-visits",
    response_model=ManualVisit,
    status_code=201,
    responses={
        403: error_response("The provider records its visits; councils approve them."),
        409: error_response("The visit has evidence, or a manual record already."),
    },
)
def request_manual_visit(
    provider_id: str,
    body: ManualVisitRequest,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> ManualVisit:
    """Record a planned visit as delivered without evidence: the carer, the London-day times
    and a note. It stands beside the evidence and counts once the council approves it; it
    resolves the visit's alert as delivered."""
    return manual_visits.request_manual_visit(conn, principal, provider_id, body, clock())


@router.get("/providers/{provider_id}/manual-visits", response_model=ManualVisitList)
def list_manual_visits(provider_id: str, conn: ConnDep, principal: PrincipalDep) -> ManualVisitList:
    """The provider's manual visit records, newest first, with the council's decisions."""
    return ManualVisitList(items=manual_visits.list_manual_visits(conn, principal, provider_id))


@router.get("/providers/{provider_id}/manual-visits/{manual_visit_id}", response_model=ManualVisit)
def get_manual_visit(
    provider_id: str, manual_visit_id: int, conn: ConnDep, principal: PrincipalDep
) -> ManualVisit:
    """One manual visit record and the council's decision."""
    return manual_visits.get_manual_visit(conn, principal, provider_id, manual_visit_id)
