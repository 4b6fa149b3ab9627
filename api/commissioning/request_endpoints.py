"""Service requests between a council and its providers (docs/service-requests.md): lots and
settings, requests and their cascades, packages, the case system's files and the monitoring
report. Providers answer their offers through api.commissioning.offer_endpoints."""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import ClockDep, ConnDep, PrincipalDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, Unprocessable, error_response
from api.pagination import Limit, Offset
from commissioning import exchange, lots, reads, reports, service
from commissioning.model import RequestStatus
from commissioning.views import (
    CommissioningPolicy,
    CouncilLot,
    CouncilLotList,
    LotLineup,
    LotSet,
    MonitoringReport,
    Package,
    PackageChangeRequest,
    PackageEnd,
    PackageList,
    Reoffer,
    RequestDraft,
    RequestImport,
    RequestImportError,
    RequestList,
    ServiceRequest,
    Withdrawal,
)

router = APIRouter(tags=["service requests"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})
COUNCILS_ONLY: dict[int | str, dict[str, Any]] = {
    403: error_response("Council officers and administrators only.")
}
CLOSED: dict[int | str, dict[str, Any]] = {
    409: error_response("The request's state does not allow it (placed, withdrawn).")
}
MAX_IMPORT_BYTES = 20 * 1024 * 1024
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV."}
}
FirstDay = Annotated[date, Query(alias="from", description="First London day.")]
LastDay = Annotated[date, Query(alias="to", description="Last London day, inclusive.")]
CouncilQuery = Annotated[
    str | None,
    Query(max_length=64, description="Administrators name the council; officers get theirs."),
]


def _csv(content: str, filename: str) -> Response:
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- lots and settings -----------------------------------------------------------------------


@router.get("/councils/{council_id}/lots", response_model=CouncilLotList, responses=COUNCILS_ONLY)
def list_lots(
    council_id: str, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> CouncilLotList:
    """The council's lots, each with the lineup in force today and every lineup it had."""
    return CouncilLotList(items=lots.list_lots(conn, principal, council_id, now=clock()))


@router.get(
    "/councils/{council_id}/lots/{lot_id}", response_model=CouncilLot, responses=COUNCILS_ONLY
)
def get_lot(
    council_id: str, lot_id: str, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> CouncilLot:
    """One lot and its lineups, oldest first."""
    return lots.get_lot(conn, principal, council_id, lot_id, now=clock())


@router.put(
    "/councils/{council_id}/lots/{lot_id}",
    response_model=LotSet,
    responses={
        **COUNCILS_ONLY,
        409: error_response("A different lineup already starts on that date, today or past."),
    },
)
def set_lot(
    council_id: str,
    lot_id: str,
    body: LotLineup,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> LotSet:
    """Set the lot's lineup from `effective_from`: the lead provider, then the additional
    providers and the DPS providers in the order they are offered requests. Earlier lineups
    are kept; one for the same date is replaced while that date is still to come."""
    return lots.set_lot(conn, principal, council_id, lot_id, body, now=clock())


@router.get(
    "/councils/{council_id}/commissioning-policy",
    response_model=CommissioningPolicy,
    responses=COUNCILS_ONLY,
)
def get_policy(council_id: str, conn: ConnDep, principal: PrincipalDep) -> CommissioningPolicy:
    """The council's response time (working hours) and how additional and DPS providers are
    offered a request (one at a time, or all at once)."""
    return lots.get_policy(conn, principal, council_id)


@router.put(
    "/councils/{council_id}/commissioning-policy",
    response_model=CommissioningPolicy,
    responses=COUNCILS_ONLY,
)
def set_policy(
    council_id: str, body: CommissioningPolicy, conn: ConnDep, principal: PrincipalDep
) -> CommissioningPolicy:
    """Change the council's settings; offers made from now on follow them."""
    return lots.set_policy(conn, principal, council_id, body)


# --- requests --------------------------------------------------------------------------------


@router.post(
    "/service-requests",
    response_model=ServiceRequest,
    status_code=201,
    responses={**COUNCILS_ONLY, 409: error_response("The request_ref is taken.")},
)
def create_request(
    body: RequestDraft, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> ServiceRequest:
    """Make a request and offer it to the lot's lead provider (or the first stage of the
    lot's cascade) at once."""
    now = clock()
    request_id = service.create_request(
        conn,
        principal,
        service.RequestDetails(
            council_id=body.council_id or "",
            request_ref=body.request_ref,
            service_user_id=body.service_user_id,
            lot_id=body.lot_id,
            start_date=body.start_date,
            end_date=body.end_date,
            visits=tuple(v.slot() for v in body.visits),
            notes=body.notes,
        ),
        now=now,
    )
    return reads.request_view(conn, principal, request_id, now=now)


@router.get("/service-requests", response_model=RequestList)
def list_requests(
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    status: Annotated[list[RequestStatus] | None, Query(description="Any of these.")] = None,
    lot_id: Annotated[str | None, Query(max_length=64)] = None,
    council_id: CouncilQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> RequestList:
    """Newest first. A council officer sees the council's requests; a provider those it was
    offered (with its own offers only); an administrator any (optionally one council's)."""
    return reads.list_requests(
        conn,
        principal,
        statuses=[s.value for s in status or []],
        lot_id=lot_id,
        council_id=council_id,
        limit=limit,
        offset=offset,
        now=clock(),
    )


@router.get(
    "/service-requests/decisions.csv",
    response_class=Response,
    responses={**COUNCILS_ONLY, **CSV_RESPONSE},
)
def export_decisions(
    first: FirstDay,
    last: LastDay,
    conn: ConnDep,
    principal: PrincipalDep,
    council_id: CouncilQuery = None,
) -> Response:
    """decisions.csv: every offer made on London days [from, to] and what became of it."""
    content = exchange.decisions_csv(conn, principal, council_id=council_id, first=first, last=last)
    return _csv(content, f"decisions-{first}-{last}.csv")


@router.post(
    "/service-requests/import",
    response_model=RequestImport,
    responses=COUNCILS_ONLY,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_requests(
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    council_id: CouncilQuery = None,
    source: Annotated[str, Query(max_length=200)] = "api",
) -> RequestImport:
    """Import requests.csv (the request body, text/csv). Bad rows come back with line numbers
    and reasons; the other requests are made and offered. Importing the same file again
    changes nothing."""
    raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES:
        raise Unprocessable("requests file larger than 20 MiB", code="requests_invalid")
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unprocessable("requests file is not UTF-8", code="requests_invalid") from exc
    # The body is read on the event loop; the import's database work in the thread pool.
    report = await run_in_threadpool(
        partial(
            exchange.import_requests,
            conn,
            principal,
            content,
            source=source,
            council_id=council_id,
            now=clock(),
        )
    )
    return RequestImport(
        import_id=report.import_id,
        rows_read=report.rows_read,
        requests_created=report.created,
        requests_unchanged=report.unchanged,
        rejected=report.rejected,
        errors=[
            RequestImportError(line=e.line, request_ref=e.request_ref, reason=e.reason)
            for e in report.errors
        ],
    )


@router.get("/service-requests/{request_id}", response_model=ServiceRequest)
def get_request(
    request_id: int, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> ServiceRequest:
    """The request, its cascade, offers and history (a provider sees its own part only)."""
    return reads.request_view(conn, principal, request_id, now=clock())


@router.post(
    "/service-requests/{request_id}/withdraw",
    response_model=ServiceRequest,
    responses={**COUNCILS_ONLY, **CLOSED},
)
def withdraw_request(
    request_id: int, body: Withdrawal, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> ServiceRequest:
    """Withdraw a request not yet placed; open offers are withdrawn and their providers told."""
    now = clock()
    service.withdraw(conn, principal, request_id, body.reason, now=now)
    return reads.request_view(conn, principal, request_id, now=now)


@router.post(
    "/service-requests/{request_id}/reoffer",
    response_model=ServiceRequest,
    responses={**COUNCILS_ONLY, **CLOSED},
)
def reoffer_request(
    request_id: int, body: Reoffer, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> ServiceRequest:
    """Offer a request not yet placed afresh: down the whole cascade again, or to one provider
    of the lot alone. Open offers are withdrawn first."""
    now = clock()
    service.reoffer(conn, principal, request_id, body.provider_id, now=now)
    return reads.request_view(conn, principal, request_id, now=now)


# --- packages --------------------------------------------------------------------------------


@router.get("/packages", response_model=PackageList)
def list_packages(
    conn: ConnDep,
    principal: PrincipalDep,
    provider_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PackageList:
    """Packages, newest first: the council's, or those the calling provider holds."""
    return reads.list_packages(conn, principal, provider_id=provider_id, limit=limit, offset=offset)


@router.get("/packages.csv", response_class=Response, responses={**COUNCILS_ONLY, **CSV_RESPONSE})
def export_packages(
    first: FirstDay,
    last: LastDay,
    conn: ConnDep,
    principal: PrincipalDep,
    council_id: CouncilQuery = None,
) -> Response:
    """packages.csv: every package version made on London days [from, to], one row per weekly
    visit."""
    content = exchange.packages_csv(conn, principal, council_id=council_id, first=first, last=last)
    return _csv(content, f"packages-{first}-{last}.csv")


@router.get("/packages/{package_id}", response_model=Package)
def get_package(package_id: int, conn: ConnDep, principal: PrincipalDep) -> Package:
    """The package and every version of it."""
    return reads.get_package(conn, principal, package_id)


@router.post(
    "/packages/{package_id}/changes",
    response_model=Package,
    responses={**COUNCILS_ONLY, 422: error_response("The change starts in the past.")},
)
def change_package(
    package_id: int,
    body: PackageChangeRequest,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> Package:
    """A new weekly pattern from `effective_from` (today or later): a new version of the
    package, and new versions of its planned visits from that day."""
    service.change_package(
        conn,
        principal,
        package_id,
        effective_from=body.effective_from,
        visits=tuple(v.slot() for v in body.visits),
        now=clock(),
    )
    return reads.get_package(conn, principal, package_id)


@router.post(
    "/packages/{package_id}/end",
    response_model=Package,
    responses={**COUNCILS_ONLY, 422: error_response("The end date is in the past.")},
)
def end_package(
    package_id: int, body: PackageEnd, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> Package:
    """The package's last day of care; its planned visits after it are cancelled."""
    service.end_package(conn, principal, package_id, end_date=body.end_date, now=clock())
    return reads.get_package(conn, principal, package_id)


# --- monitoring ------------------------------------------------------------------------------

UnplacedAfter = Annotated[
    int, Query(ge=1, le=365, description="Count requests not placed within this many days.")
]


@router.get(
    "/commissioning/monitoring",
    response_model=MonitoringReport,
    response_model_by_alias=True,
    responses=COUNCILS_ONLY,
)
def monitoring(
    first: FirstDay,
    last: LastDay,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    council_id: CouncilQuery = None,
    unplaced_after_days: UnplacedAfter = reports.DEFAULT_UNPLACED_AFTER_DAYS,
) -> MonitoringReport:
    """Per lot, for the requests made on London days [from, to]: requests made, the share
    the lead provider accepted within the deadline, median hours to acceptance, requests not
    placed within N days, weekly hours commissioned by lead, additional and DPS providers,
    and decline reasons; the last entry (`lot_id` null) is all lots together."""
    return reports.monitoring(
        conn,
        principal,
        council_id,
        first,
        last,
        unplaced_after_days=unplaced_after_days,
        now=clock(),
    )


@router.get(
    "/commissioning/monitoring.csv",
    response_class=Response,
    responses={**COUNCILS_ONLY, **CSV_RESPONSE},
)
def monitoring_csv(
    first: FirstDay,
    last: LastDay,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    council_id: CouncilQuery = None,
    unplaced_after_days: UnplacedAfter = reports.DEFAULT_UNPLACED_AFTER_DAYS,
) -> Response:
    """monitoring.csv: the monitoring report, one row per lot and one for all lots."""
    report = reports.monitoring(
        conn,
        principal,
        council_id,
        first,
        last,
        unplaced_after_days=unplaced_after_days,
        now=clock(),
    )
    return _csv(reports.monitoring_csv(report), f"monitoring-{first}-{last}.csv")
