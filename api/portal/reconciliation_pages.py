"""The council's reconciliation pages: upload a contract and invoices, start a run, read a run's
totals and lines (filtered by provider, reason and outcome, sorted, a page at a time), follow a
line to the visits and events behind it, compare two runs, export for finance, pay a run after
a confirmation that shows what is paid (with a second officer when the council wants one) and
void a payment. Same services and access rules as the API (reconciliation.runs,
reconciliation.payments, reconciliation.finance, reconciliation.access)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ConnDep, FreshnessDep, PrincipalDep
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.pagination import Offset
from api.portal.pages import page
from api.portal.paths import PORTAL_PREFIX
from api.reconciliation import schemas
from gateway.registry import names as registry_names
from gateway.registry.repository import list_councils
from reconciliation import finance, payments
from reconciliation import runs as service
from reconciliation.access import ensure_council

HOME = f"{PORTAL_PREFIX}/reconciliation"
LINES_PER_PAGE = 200
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

router = APIRouter(prefix=PORTAL_PREFIX, include_in_schema=False)


def council_home(council_id: str) -> str:
    return f"{PORTAL_PREFIX}/councils/{council_id}/reconciliation"


async def _upload_text(upload: UploadFile, what: str) -> str:
    raw = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(raw) > MAX_UPLOAD_BYTES:
        raise Unprocessable(f"{what} larger than 50 MiB", code=f"{what}_invalid")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unprocessable(f"{what} is not UTF-8", code=f"{what}_invalid") from exc


@router.get("/reconciliation", response_model=None)
def reconciliation_home(
    request: Request, conn: ConnDep, principal: PrincipalDep
) -> HTMLResponse | RedirectResponse:
    """A council officer goes to the council's page; an administrator picks a council."""
    if principal.council_id is not None:
        return RedirectResponse(council_home(principal.council_id), status_code=303)
    if not principal.is_admin:
        raise Forbidden("council officers and administrators only")
    councils = list_councils(conn)
    return page(request, "reconciliation_councils.html", principal, councils=councils)


@router.get("/councils/{council_id}/reconciliation", response_class=HTMLResponse)
def council_page(
    council_id: str,
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
    message: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    ensure_council(conn, principal, council_id)
    try:
        contract: schemas.ContractVersion | None = service.get_contract(conn, council_id)
    except NotFound:
        contract = None
    return page(
        request,
        "reconciliation_council.html",
        principal,
        council_id=council_id,
        contract=contract,
        invoices=service.list_invoices(conn, council_id, 100, 0),
        runs=service.list_runs(conn, council_id, 100, 0).items,
        message=message,
    )


@router.post("/councils/{council_id}/reconciliation/contract")
async def upload_contract(
    council_id: str,
    conn: ConnDep,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File()],
) -> RedirectResponse:
    # Only the upload is read on the event loop; database work goes to the thread pool.
    await run_in_threadpool(ensure_council, conn, principal, council_id)
    content = await _upload_text(file, "contract")
    stored = await run_in_threadpool(service.put_contract, conn, principal, council_id, content)
    return _back(council_id, f"contract version {stored.version} is current")


@router.post("/councils/{council_id}/reconciliation/invoices")
async def upload_invoice(
    council_id: str,
    conn: ConnDep,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File()],
) -> RedirectResponse:
    await run_in_threadpool(ensure_council, conn, principal, council_id)
    content = await _upload_text(file, "invoice")
    name = (file.filename or "invoice.csv")[: service.MAX_NAME]
    invoice = await run_in_threadpool(
        service.upload_invoice, conn, principal, council_id, name, content
    )
    return _back(
        council_id,
        f"invoice {invoice.name}: {invoice.lines} lines read, {len(invoice.problems)} problems",
    )


@router.post("/councils/{council_id}/reconciliation/runs")
def start_run(
    council_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    invoice_ids: Annotated[list[int], Form(min_length=1, max_length=100)],
) -> RedirectResponse:
    ensure_council(conn, principal, council_id)
    run = service.start_run(
        conn, freshness, principal, council_id, schemas.RunRequest(invoice_ids=invoice_ids)
    )
    return RedirectResponse(f"{council_home(council_id)}/runs/{run.id}", status_code=303)


SORTS = {
    "position": "Invoice order",
    "provider": "Provider",
    "service_user": "Service user",
    "date": "Date",
    "claimed": "Amount claimed",
    "payable": "Amount payable",
    "variance": "Variance",
    "outcome": "Outcome",
}
OUTCOMES = ["approved", "adjusted", "held", "rejected"]


def run_path(council_id: str, run_id: int) -> str:
    return f"{council_home(council_id)}/runs/{run_id}"


@router.get("/councils/{council_id}/reconciliation/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    council_id: str,
    run_id: int,
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    provider: Annotated[str | None, Query(max_length=200)] = None,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    sort: Annotated[str, Query(max_length=20)] = "position",
    offset: Offset = 0,
) -> HTMLResponse:
    ensure_council(conn, principal, council_id)
    run = service.get_run(conn, council_id, run_id)
    filters = {
        "outcome": (outcome or "").strip() or None,
        "provider": (provider or "").strip() or None,
        "reason": (reason or "").strip() or None,
    }
    if filters["outcome"] is not None and filters["outcome"] not in OUTCOMES:
        raise Unprocessable(f"unknown outcome {filters['outcome']}")
    if sort.lstrip("-") not in SORTS:
        sort = "position"
    lines = service.list_lines(
        conn,
        council_id,
        run_id,
        outcome=filters["outcome"],
        provider_ref=filters["provider"],
        reason_code="" if filters["reason"] == "none" else filters["reason"],
        uncommissioned=None,
        sort=sort,
        limit=LINES_PER_PAGE,
        offset=offset,
    )
    providers, reasons = service.line_facets(conn, council_id, run_id)
    unbilled = service.list_unbilled(conn, council_id, run_id, 500, 0)
    names = registry_names.lookup(
        conn,
        providers=[*providers, *run.summary.providers],
        service_users=[line.service_user_ref for line in lines.items]
        + [u.service_user_ref for u in unbilled],
        carers=[u.carer_ref for u in unbilled],
    )
    others = [r for r in service.list_runs(conn, council_id, 100, 0).items if r.id != run_id]
    query = {k: v for k, v in filters.items() if v is not None}
    base = run_path(council_id, run_id)

    def link(**changes: Any) -> str:
        chosen = {**query, "sort": sort, **changes}
        return f"{base}?{urlencode({k: v for k, v in chosen.items() if v not in (None, '')})}"

    return page(
        request,
        "reconciliation_run.html",
        principal,
        council_id=council_id,
        run=run,
        lines=lines,
        filters=filters,
        sort=sort,
        sorts=SORTS,
        providers=providers,
        reasons=reasons,
        names=names,
        others=others,
        unbilled=unbilled,
        outcomes=OUTCOMES,
        offset=offset,
        link=link,
        previous_url=link(offset=max(offset - LINES_PER_PAGE, 0)) if offset > 0 else None,
        next_url=link(offset=lines.next_offset) if lines.next_offset is not None else None,
        lots=finance.run_lots(conn, council_id, run_id),
        message=request.query_params.get("message"),
        error=request.query_params.get("error"),
    )


@router.get(
    "/councils/{council_id}/reconciliation/runs/{run_id}/lines/{position}",
    response_class=HTMLResponse,
)
def line_page(
    council_id: str,
    run_id: int,
    position: int,
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    ensure_council(conn, principal, council_id)
    line = service.get_line(conn, council_id, run_id, position)
    names = registry_names.lookup(
        conn,
        providers=[line.provider_ref],
        service_users=[line.service_user_ref],
        carers=[e.carer_ref for e in line.evidence],
    )
    return page(
        request,
        "reconciliation_line.html",
        principal,
        council_id=council_id,
        run_id=run_id,
        line=line,
        names=names,
    )


@router.get(
    "/councils/{council_id}/reconciliation/runs/{run_id}/compare", response_class=HTMLResponse
)
def compare_page(
    council_id: str,
    run_id: int,
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
    other: Annotated[int, Query()],
) -> HTMLResponse:
    ensure_council(conn, principal, council_id)
    comparison = service.compare(conn, council_id, run_id, other)
    return page(
        request,
        "reconciliation_compare.html",
        principal,
        council_id=council_id,
        comparison=comparison,
    )


@router.get("/councils/{council_id}/reconciliation/runs/{run_id}/pay", response_class=HTMLResponse)
def pay_page(
    council_id: str,
    run_id: int,
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    """What paying the run means, before anyone confirms it: totals and lines by outcome."""
    ensure_council(conn, principal, council_id)
    run = service.get_run(conn, council_id, run_id)
    names = registry_names.lookup(conn, providers=list(run.summary.providers))
    return page(
        request,
        "reconciliation_pay.html",
        principal,
        council_id=council_id,
        run=run,
        names=names,
        outcomes=OUTCOMES,
        second_needed=payments.get_settings(conn, council_id).second_payment_approval,
    )


@router.post("/councils/{council_id}/reconciliation/runs/{run_id}/paid")
def mark_paid(
    council_id: str,
    run_id: int,
    conn: ConnDep,
    principal: PrincipalDep,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> RedirectResponse:
    ensure_council(conn, principal, council_id)
    if confirm != "yes":
        # Paying is never one click: the confirmation page shows what is being paid.
        return RedirectResponse(f"{run_path(council_id, run_id)}/pay", status_code=303)
    try:
        run = payments.pay(conn, principal, council_id, run_id)
    except Conflict as exc:
        return RedirectResponse(
            f"{run_path(council_id, run_id)}?{urlencode({'error': exc.message})}", 303
        )
    message = (
        "Paid."
        if run.paid_at is not None
        else "Payment confirmed: it now needs a second officer's approval."
    )
    return RedirectResponse(
        f"{run_path(council_id, run_id)}?{urlencode({'message': message})}", status_code=303
    )


@router.post("/councils/{council_id}/reconciliation/runs/{run_id}/void")
def void_payment(
    council_id: str,
    run_id: int,
    conn: ConnDep,
    principal: PrincipalDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse:
    ensure_council(conn, principal, council_id)
    try:
        payments.void(conn, principal, council_id, run_id, reason)
    except (Conflict, Unprocessable) as exc:
        return RedirectResponse(
            f"{run_path(council_id, run_id)}?{urlencode({'error': exc.message})}", 303
        )
    message = "Payment voided. The run and its lines stay on record."
    return RedirectResponse(
        f"{run_path(council_id, run_id)}?{urlencode({'message': message})}", status_code=303
    )


def _back(council_id: str, message: str) -> RedirectResponse:
    return RedirectResponse(
        f"{council_home(council_id)}?{urlencode({'message': message})}", status_code=303
    )
