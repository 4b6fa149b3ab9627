"""Service requests in the portal for council officers (and administrators): the queue of
requests not yet placed with the cascade of each, a form to make a request, one request with its
offers and history (withdraw, re-offer), the monitoring report with charts, and a package with
its planned visits (which its provider sees too).

Every read and change goes through the commissioning services the API uses, with the same
access rules, and is audited by PrincipalDep."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from api.deps import ClockDep, ConnDep, Principal, PrincipalDep
from api.errors import Forbidden, Unprocessable
from api.portal.charts import BarChart, Series, bar_chart, share_text
from api.portal.offer_pages import time_left
from api.portal.pages import page
from api.portal.paths import PORTAL_PREFIX
from commissioning import lots, reads, reports, service
from commissioning.model import DAY_NAMES, DECLINE_REASON_TEXT, LONDON, VisitSlot
from commissioning.views import LotMonitoring, MonitoringReport
from core.errors import DomainError
from gateway.registry.queries import list_providers, list_service_users
from gateway.registry.repository import list_councils
from visits import service as visits_service

router = APIRouter()
VISIT_ROWS = 4  # the form's weekly visit lines (no script, so a fixed number)
UPCOMING_DAYS = 14
MONITORING_DAYS = 30
LEAD_SHARE = Series("Accepted by the lead in time", "chart-a")
LEAD_HOURS = Series("Lead", "chart-a")
ADDITIONAL_HOURS = Series("Additional", "chart-b")
DPS_HOURS = Series("DPS", "chart-c")
MEDIAN = Series("Median hours to acceptance", "chart-b")
DECLINED = Series("Declined offers", "chart-warn")


def request_path(request_id: int) -> str:
    return f"{PORTAL_PREFIX}/requests/{request_id}"


def provider_names(conn: Connection, principal: Principal) -> dict[str, str]:
    """Providers by name, as people know them (those the caller may see)."""
    return {p.id: p.name for p in list_providers(conn, principal)}


def _council_side(principal: Principal) -> None:
    if principal.provider_id is not None or not (principal.is_admin or principal.council_id):
        raise Forbidden("service requests are the council's pages; offers are under Offers")


@router.get("/requests", response_class=HTMLResponse)
def queue_page(
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    live: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    _council_side(principal)
    now = clock()
    waiting = reads.list_requests(
        conn,
        principal,
        statuses=["open", "unplaced"],
        lot_id=None,
        council_id=None,
        limit=500,
        offset=0,
        now=now,
    ).items
    recent = reads.list_requests(
        conn,
        principal,
        statuses=["placed", "withdrawn"],
        lot_id=None,
        council_id=None,
        limit=20,
        offset=0,
        now=now,
    ).items
    return page(
        request,
        "requests.html",
        principal,
        waiting=waiting,
        recent=recent,
        names=provider_names(conn, principal),
        now=now,
        time_left=time_left,
        refresh_seconds=60,
        # It reloads itself only when asked (WCAG 2.2.1; docs/portal.md).
        live=live,
    )


def _form_context(
    conn: Connection, principal: Principal, council_id: str | None, now: datetime
) -> dict[str, Any]:
    councils = list_councils(conn) if principal.is_admin else []
    council = principal.council_id or council_id
    users = [u for u in list_service_users(conn, principal) if u.council_id == council]
    council_lots = lots.list_lots(conn, principal, council, now=now) if council else []
    return {
        "councils": councils,
        "council_id": council,
        "service_users": users,
        "lots": [lot for lot in council_lots if lot.in_force is not None],
        "day_names": DAY_NAMES,
        "visit_rows": range(VISIT_ROWS),
        "today": now.astimezone(LONDON).date(),
    }


@router.get("/requests/new", response_class=HTMLResponse)
def new_request_page(
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    council_id: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    _council_side(principal)
    return page(
        request,
        "request_new.html",
        principal,
        form={},
        **_form_context(conn, principal, council_id, clock()),
    )


def _visits(form: dict[str, str | list[str]]) -> tuple[VisitSlot, ...]:
    """The weekly visit lines filled in; a line with no days and no time is left out."""
    slots = []
    for index in range(VISIT_ROWS):
        days = form.get(f"days-{index}") or []
        days = [days] if isinstance(days, str) else days
        start = str(form.get(f"start-{index}") or "").strip()
        if not days and not start:
            continue
        line = f"visit line {index + 1}"
        if not days or not start:
            raise Unprocessable(f"{line}: choose the days and the time")
        try:
            minutes = int(str(form.get(f"minutes-{index}") or ""))
            carers = int(str(form.get(f"carers-{index}") or "1"))
            starts = time.fromisoformat(start[:5])
        except ValueError:
            raise Unprocessable(f"{line}: minutes, carers and time must be numbers") from None
        if not 1 <= minutes <= 1440 or not 1 <= carers <= 4 or set(days) - set(DAY_NAMES):
            raise Unprocessable(f"{line}: minutes 1 to 1440, carers 1 to 4")
        service_type = str(form.get(f"service_type-{index}") or "").strip() or "personal care"
        slots.append(
            VisitSlot(
                days=frozenset(DAY_NAMES.index(d) for d in days),
                start=starts,
                minutes=minutes,
                carers=carers,
                service_type=service_type[:64],
            )
        )
    return tuple(slots)


def _date(value: str | list[str] | None, name: str, *, required: bool) -> date | None:
    text = str(value or "").strip()
    if not text:
        if required:
            raise Unprocessable(f"{name} is needed")
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Unprocessable(f"{name}: {text!r} is not a date") from None


@router.post("/requests", response_model=None)
async def create_request(
    request: Request, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> HTMLResponse | RedirectResponse:
    _council_side(principal)
    now = clock()
    raw = await request.form()
    form: dict[str, str | list[str]] = {}
    for key in raw:
        values = [str(v) for v in raw.getlist(key)]
        form[key] = values if key.startswith("days-") else values[0][:2000]
    # Only the form is read on the event loop; the database work goes to the thread pool.
    return await run_in_threadpool(_create_request, request, conn, principal, form, now)


def _create_request(
    request: Request,
    conn: Connection,
    principal: Principal,
    form: dict[str, str | list[str]],
    now: datetime,
) -> HTMLResponse | RedirectResponse:
    council_id = str(form.get("council_id") or "") or None
    try:
        start = _date(form.get("start_date"), "start date", required=True)
        assert start is not None
        ref = str(form.get("request_ref") or "").strip() or None
        with conn.begin_nested():
            request_id = service.create_request(
                conn,
                principal,
                service.RequestDetails(
                    council_id=principal.council_id or council_id or "",
                    request_ref=ref,
                    service_user_id=str(form.get("service_user_id") or ""),
                    lot_id=str(form.get("lot_id") or ""),
                    start_date=start,
                    end_date=_date(form.get("end_date"), "end date", required=False),
                    visits=_visits(form),
                    notes=str(form.get("notes") or "").strip(),
                ),
                now=now,
                source="portal",
            )
    except (DomainError, Unprocessable) as exc:
        if exc.status_code == 404:
            raise
        return page(
            request,
            "request_new.html",
            principal,
            form=form,
            error=exc.message,
            status_code=exc.status_code,
            **_form_context(conn, principal, council_id, now),
        )
    return RedirectResponse(f"{request_path(request_id)}?notice=created", 303)


def _render_request(
    request: Request,
    conn: Connection,
    principal: Principal,
    request_id: int,
    now: datetime,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    view = reads.request_view(conn, principal, request_id, now=now)
    lot = lots.get_lot(conn, principal, view.council_id, view.lot_id, now=now)
    lineup = lot.in_force
    providers = (
        []
        if lineup is None
        else [
            *([lineup.lead] if lineup.lead else []),
            *lineup.additional,
            *lineup.dps,
        ]
    )
    return page(
        request,
        "request.html",
        principal,
        item=view,
        now=now,
        time_left=time_left,
        lot_providers=providers,
        names=provider_names(conn, principal),
        reason_text={reason.value: text for reason, text in DECLINE_REASON_TEXT.items()},
        can_change=view.status.value in ("open", "unplaced"),
        notice=notice,
        error=error,
        status_code=status_code,
    )


@router.get("/requests/monitoring", response_class=HTMLResponse)
def monitoring_page(
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    council_id: Annotated[str | None, Query(max_length=64)] = None,
    first: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    unplaced_after_days: Annotated[int, Query(ge=1, le=365)] = 7,
) -> HTMLResponse:
    _council_side(principal)
    now = clock()
    councils = list_councils(conn) if principal.is_admin else []
    council = (
        principal.council_id or (council_id or "").strip() or (councils[0].id if councils else None)
    )
    today = now.astimezone(LONDON).date()
    last_day = _date(last, "to", required=False) or today
    first_day = _date(first, "from", required=False) or last_day - timedelta(
        days=MONITORING_DAYS - 1
    )
    report, lot_names = None, {}
    if council is not None:
        lot_names = {lot.id: lot.name for lot in lots.list_lots(conn, principal, council, now=now)}
        report = reports.monitoring(
            conn,
            principal,
            council,
            first_day,
            last_day,
            unplaced_after_days=unplaced_after_days,
            now=now,
        )
    return page(
        request,
        "requests_monitoring.html",
        principal,
        report=report,
        councils=councils,
        council_id=council,
        first_day=first_day,
        last_day=last_day,
        unplaced_after_days=unplaced_after_days,
        lot_names=lot_names,
        charts=monitoring_charts(report, lot_names) if report else [],
        share_text=share_text,
        reason_text={reason.value: text for reason, text in DECLINE_REASON_TEXT.items()},
    )


def monitoring_charts(report: MonitoringReport, lot_names: dict[str, str]) -> list[BarChart]:
    def _label(entry: LotMonitoring) -> str:
        return lot_names.get(entry.lot_id, entry.lot_id) if entry.lot_id else "All lots"

    lots_only = [e for e in report.lots if e.lot_id is not None] or report.lots
    total = report.lots[-1]
    return [
        bar_chart(
            "Requests the lead provider accepted within the deadline",
            [LEAD_SHARE],
            [
                (_label(e), [(e.lead_in_time_share, share_text(e.lead_in_time_share))])
                for e in report.lots
            ],
            maximum=1.0,
        ),
        bar_chart(
            "Hours of care a week commissioned, by the provider's role",
            [LEAD_HOURS, ADDITIONAL_HOURS, DPS_HOURS],
            [
                (
                    _label(e),
                    [
                        (e.weekly_hours_lead, f"{e.weekly_hours_lead:.1f} h"),
                        (e.weekly_hours_additional, f"{e.weekly_hours_additional:.1f} h"),
                        (e.weekly_hours_dps, f"{e.weekly_hours_dps:.1f} h"),
                    ],
                )
                for e in lots_only
            ],
        ),
        bar_chart(
            "Median hours from request to acceptance",
            [MEDIAN],
            [
                (
                    _label(e),
                    [
                        (
                            e.median_hours_to_accept,
                            "-"
                            if e.median_hours_to_accept is None
                            else f"{e.median_hours_to_accept:.1f} h",
                        )
                    ],
                )
                for e in report.lots
            ],
        ),
        bar_chart(
            "Why offers were declined (all lots)",
            [DECLINED],
            [
                (DECLINE_REASON_TEXT_SHORT.get(reason, reason), [(float(count), str(count))])
                for reason, count in total.declines.items()
            ],
        ),
    ]


DECLINE_REASON_TEXT_SHORT = {
    "no_capacity": "No capacity",
    "no_carers_in_area": "No carers in area",
    "visit_times_not_possible": "Times not possible",
    "start_date_not_possible": "Start date",
    "double_handed_not_possible": "Double-handed",
    "skills_not_available": "Skills",
    "risk_to_staff": "Risk to staff",
    "other": "Other",
}


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(
    request: Request,
    request_id: int,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    _council_side(principal)
    return _render_request(request, conn, principal, request_id, clock(), notice=notice)


@router.post("/requests/{request_id}/withdraw", response_model=None)
def withdraw(
    request: Request,
    request_id: int,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse | RedirectResponse:
    _council_side(principal)
    now = clock()
    try:
        if not reason.strip():
            raise Unprocessable("say why the request is withdrawn")
        with conn.begin_nested():
            service.withdraw(conn, principal, request_id, reason.strip(), now=now)
    except (DomainError, Unprocessable) as exc:
        if exc.status_code == 404:
            raise
        return _render_request(
            request, conn, principal, request_id, now, error=exc.message, status_code=422
        )
    return RedirectResponse(f"{request_path(request_id)}?notice=withdrawn", 303)


@router.post("/requests/{request_id}/reoffer", response_model=None)
def reoffer(
    request: Request,
    request_id: int,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    provider_id: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse | RedirectResponse:
    _council_side(principal)
    now = clock()
    try:
        with conn.begin_nested():
            service.reoffer(conn, principal, request_id, provider_id.strip() or None, now=now)
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return _render_request(
            request, conn, principal, request_id, now, error=exc.message, status_code=422
        )
    return RedirectResponse(f"{request_path(request_id)}?notice=reoffered", 303)


@router.get("/packages/{package_id}", response_class=HTMLResponse)
def package_page(
    request: Request, package_id: int, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> HTMLResponse:
    """The package (the council's or its provider's) and its planned visits to come."""
    package = reads.get_package(conn, principal, package_id)
    today = clock().astimezone(LONDON).date()
    upcoming = [
        visit
        for offset in range(UPCOMING_DAYS)
        for visit in visits_service.planned_on(
            conn, package.provider_id, today + timedelta(days=offset)
        )
        if visit.service_user_id == package.service_user_id
        and visit.visit_ref.startswith(f"SR{package.request_id}-")
    ]
    return page(
        request,
        "package.html",
        principal,
        package=package,
        names=provider_names(conn, principal),
        upcoming=upcoming,
        upcoming_days=UPCOMING_DAYS,
        today=today,
    )
