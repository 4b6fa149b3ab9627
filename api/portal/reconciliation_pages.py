"""The council's reconciliation pages: upload a contract and invoices, start a run, read a run's
totals and lines, follow a line to the visits and events behind it, compare two runs, mark a run
paid. Same service and same access rules as the API (reconciliation.runs, reconciliation.access)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import ConnDep, FreshnessDep, PrincipalDep
from api.errors import Forbidden, NotFound, Unprocessable
from api.pagination import Offset
from api.portal.pages import page
from api.portal.paths import PORTAL_PREFIX
from api.reconciliation import schemas
from gateway.registry.repository import list_councils
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
    ensure_council(conn, principal, council_id)
    content = await _upload_text(file, "contract")
    stored = service.put_contract(conn, principal, council_id, content)
    return _back(council_id, f"contract version {stored.version} is current")


@router.post("/councils/{council_id}/reconciliation/invoices")
async def upload_invoice(
    council_id: str,
    conn: ConnDep,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File()],
) -> RedirectResponse:
    ensure_council(conn, principal, council_id)
    content = await _upload_text(file, "invoice")
    name = (file.filename or "invoice.csv")[: service.MAX_NAME]
    invoice = service.upload_invoice(conn, principal, council_id, name, content)
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


@router.get("/councils/{council_id}/reconciliation/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    council_id: str,
    run_id: int,
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
    outcome: Annotated[schemas.Outcome | None, Query()] = None,
    offset: Offset = 0,
) -> HTMLResponse:
    ensure_council(conn, principal, council_id)
    run = service.get_run(conn, council_id, run_id)
    lines = service.list_lines(
        conn,
        council_id,
        run_id,
        outcome=outcome,
        provider_ref=None,
        uncommissioned=None,
        limit=LINES_PER_PAGE,
        offset=offset,
    )
    others = [r for r in service.list_runs(conn, council_id, 100, 0).items if r.id != run_id]
    return page(
        request,
        "reconciliation_run.html",
        principal,
        council_id=council_id,
        run=run,
        lines=lines,
        outcome=outcome,
        others=others,
        unbilled=service.list_unbilled(conn, council_id, run_id, 500, 0),
        outcomes=["approved", "adjusted", "held", "rejected"],
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
    return page(
        request,
        "reconciliation_line.html",
        principal,
        council_id=council_id,
        run_id=run_id,
        line=line,
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


@router.post("/councils/{council_id}/reconciliation/runs/{run_id}/paid")
def mark_paid(
    council_id: str, run_id: int, conn: ConnDep, principal: PrincipalDep
) -> RedirectResponse:
    ensure_council(conn, principal, council_id)
    service.mark_paid(conn, principal, council_id, run_id)
    return RedirectResponse(f"{council_home(council_id)}/runs/{run_id}", status_code=303)


def _back(council_id: str, message: str) -> RedirectResponse:
    return RedirectResponse(
        f"{council_home(council_id)}?{urlencode({'message': message})}", status_code=303
    )
