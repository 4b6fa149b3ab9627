"""Reconciliation of a council's invoices: contract, invoices, runs, and what each run decided.

Council officers of the council and administrators only (reconciliation.access); the rules
and the store are reconciliation.runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import ConnDep, FreshnessDep, PrincipalDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, Unprocessable, error_response
from api.pagination import Limit, Offset
from api.reconciliation import schemas
from reconciliation import finance, payments
from reconciliation import runs as service
from reconciliation.access import ensure_council

router = APIRouter(tags=["reconciliation"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})
COUNCILS_ONLY: dict[int | str, dict[str, Any]] = {
    403: error_response("Council officers and administrators only.")
}
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
RUNS = "/councils/{council_id}/reconciliation/runs"
Outcome = Annotated[schemas.Outcome | None, Query(description="Only lines with this outcome.")]


def _text_body(content_type: str) -> dict[str, Any]:
    return {
        "requestBody": {"content": {content_type: {"schema": {"type": "string"}}}, "required": True}
    }


async def _read_text(request: Request, what: str) -> str:
    raw = await request.body()
    if len(raw) > MAX_UPLOAD_BYTES:
        raise Unprocessable(f"{what} larger than 50 MiB", code=f"{what}_invalid")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unprocessable(f"{what} is not UTF-8", code=f"{what}_invalid") from exc


@router.put(
    "/councils/{council_id}/contract",
    response_model=schemas.ContractVersion,
    responses=COUNCILS_ONLY,
    openapi_extra=_text_body("text/plain"),
)
async def put_contract(
    council_id: str, request: Request, conn: ConnDep, principal: PrincipalDep
) -> schemas.ContractVersion:
    """Upload the council's contract.toml (the request body). A changed text becomes a new
    version; runs record the version and checksum they used."""
    # Only the body is read on the event loop; database work goes to the thread pool.
    await run_in_threadpool(ensure_council, conn, principal, council_id)
    content = await _read_text(request, "contract")
    return await run_in_threadpool(service.put_contract, conn, principal, council_id, content)


@router.get(
    "/councils/{council_id}/contract",
    response_model=schemas.ContractVersion,
    responses=COUNCILS_ONLY,
)
def get_contract(
    council_id: str, conn: ConnDep, principal: PrincipalDep
) -> schemas.ContractVersion:
    """The council's current contract version and its text."""
    ensure_council(conn, principal, council_id)
    return service.get_contract(conn, council_id)


@router.post(
    "/councils/{council_id}/invoices",
    response_model=schemas.Invoice,
    status_code=201,
    responses=COUNCILS_ONLY,
    openapi_extra=_text_body("text/csv"),
)
async def upload_invoice(
    council_id: str,
    request: Request,
    conn: ConnDep,
    principal: PrincipalDep,
    name: Annotated[str, Query(min_length=1, max_length=service.MAX_NAME)] = "invoice.csv",
) -> schemas.Invoice:
    """Upload a provider's invoice.csv (the request body, text/csv). Bad rows come back with
    their line numbers and reasons; a run takes the other lines."""
    await run_in_threadpool(ensure_council, conn, principal, council_id)
    content = await _read_text(request, "invoice")
    return await run_in_threadpool(
        service.upload_invoice, conn, principal, council_id, name, content
    )


@router.get(
    "/councils/{council_id}/invoices",
    response_model=list[schemas.Invoice],
    responses=COUNCILS_ONLY,
)
def list_invoices(
    council_id: str, conn: ConnDep, principal: PrincipalDep, limit: Limit = 100, offset: Offset = 0
) -> list[schemas.Invoice]:
    """The council's uploaded invoices, newest first."""
    ensure_council(conn, principal, council_id)
    return service.list_invoices(conn, council_id, limit, offset)


@router.post(
    RUNS,
    response_model=schemas.Run,
    status_code=201,
    responses=COUNCILS_ONLY,
)
def start_run(
    council_id: str,
    body: Annotated[schemas.RunRequest, Body()],
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
) -> schemas.Run:
    """Reconcile the invoices named against the council's contract and the store's planned
    visits and verified visits. Lines on visits claimed in paid runs are DUPLICATE_CLAIM."""
    ensure_council(conn, principal, council_id)
    return service.start_run(conn, freshness, principal, council_id, body)


@router.get(RUNS, response_model=schemas.RunList, responses=COUNCILS_ONLY)
def list_runs(
    council_id: str, conn: ConnDep, principal: PrincipalDep, limit: Limit = 100, offset: Offset = 0
) -> schemas.RunList:
    """The council's runs, newest first, with their totals."""
    ensure_council(conn, principal, council_id)
    return service.list_runs(conn, council_id, limit, offset)


@router.get(RUNS + "/{run_id}", response_model=schemas.Run, responses=COUNCILS_ONLY)
def get_run(council_id: str, run_id: int, conn: ConnDep, principal: PrincipalDep) -> schemas.Run:
    """One run: its inputs' checksums, rules version, period, who ran it, whether it was paid,
    and totals overall, per provider and per lot."""
    ensure_council(conn, principal, council_id)
    return service.get_run(conn, council_id, run_id)


@router.get(RUNS + "/{run_id}/lines", response_model=schemas.RunLinePage, responses=COUNCILS_ONLY)
def list_lines(
    council_id: str,
    run_id: int,
    conn: ConnDep,
    principal: PrincipalDep,
    outcome: Outcome = None,
    provider_ref: Annotated[str | None, Query(max_length=200)] = None,
    reason_code: Annotated[
        str | None, Query(max_length=64, description="Only lines with this reason code.")
    ] = None,
    uncommissioned: bool | None = None,
    sort: Annotated[
        str,
        Query(
            max_length=20,
            description="position, provider, service_user, date, claimed, payable, variance or "
            "outcome; a leading - sorts descending.",
        ),
    ] = "position",
    limit: Limit = 500,
    offset: Offset = 0,
) -> schemas.RunLinePage:
    """The run's lines, in report order unless `sort` says otherwise; `total` counts every
    line the filters select. `uncommissioned=true`: lines for service users the provider was
    not commissioned for."""
    ensure_council(conn, principal, council_id)
    return service.list_lines(
        conn,
        council_id,
        run_id,
        outcome=outcome,
        provider_ref=provider_ref,
        reason_code=reason_code,
        uncommissioned=uncommissioned,
        sort=sort,
        limit=limit,
        offset=offset,
    )


@router.get(
    RUNS + "/{run_id}/lines/{position}",
    response_model=schemas.RunLineDetail,
    responses=COUNCILS_ONLY,
)
def get_line(
    council_id: str, run_id: int, position: int, conn: ConnDep, principal: PrincipalDep
) -> schemas.RunLineDetail:
    """One line (its row in report.csv, from 1) with the visits, carers' stays and event ids
    behind it."""
    ensure_council(conn, principal, council_id)
    return service.get_line(conn, council_id, run_id, position)


@router.get(
    RUNS + "/{run_id}/unbilled",
    response_model=list[schemas.UnbilledVisit],
    responses=COUNCILS_ONLY,
)
def list_unbilled(
    council_id: str,
    run_id: int,
    conn: ConnDep,
    principal: PrincipalDep,
    limit: Limit = 500,
    offset: Offset = 0,
) -> list[schemas.UnbilledVisit]:
    """Verified visits in the run's period that no invoice line claimed."""
    ensure_council(conn, principal, council_id)
    return service.list_unbilled(conn, council_id, run_id, limit, offset)


@router.get(
    RUNS + "/{run_id}/report.csv",
    response_class=Response,
    responses={
        **COUNCILS_ONLY,
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "report.csv, byte for byte as `ecm reconcile` writes it.",
        },
    },
)
def export_report(council_id: str, run_id: int, conn: ConnDep, principal: PrincipalDep) -> Response:
    """The run's report.csv."""
    ensure_council(conn, principal, council_id)
    return Response(
        service.report_csv(conn, council_id, run_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="run-{run_id}-report.csv"'},
    )


@router.get(
    RUNS + "/{run_id}/compare/{other_run_id}",
    response_model=schemas.RunComparison,
    responses=COUNCILS_ONLY,
)
def compare_runs(
    council_id: str, run_id: int, other_run_id: int, conn: ConnDep, principal: PrincipalDep
) -> schemas.RunComparison:
    """Lines whose outcome, reason or payable amount changed from run_id to other_run_id, and
    lines in only one of them (matched by invoice_ref and line_no)."""
    ensure_council(conn, principal, council_id)
    return service.compare(conn, council_id, run_id, other_run_id)


@router.post(
    RUNS + "/{run_id}/paid",
    response_model=schemas.Run,
    responses={
        **COUNCILS_ONLY,
        409: error_response(
            "Already paid or voided, or the officer who confirmed it asks again when the "
            "council wants a second officer."
        ),
    },
)
def mark_paid(council_id: str, run_id: int, conn: ConnDep, principal: PrincipalDep) -> schemas.Run:
    """Pay the run. Visits its lines used are then already claimed: a later run pays no line
    on them again (DUPLICATE_CLAIM). When the council's settings want a second officer, the
    first call records the confirmation (payment_requested_by) and another officer's call
    pays."""
    ensure_council(conn, principal, council_id)
    return payments.pay(conn, principal, council_id, run_id)


@router.post(
    RUNS + "/{run_id}/void",
    response_model=schemas.Run,
    responses={**COUNCILS_ONLY, 409: error_response("Not paid, or already voided.")},
)
def void_payment(
    council_id: str,
    run_id: int,
    body: schemas.VoidRequest,
    conn: ConnDep,
    principal: PrincipalDep,
) -> schemas.Run:
    """Undo a paid run's payment, saying why: its visits are no longer claimed. The run, its
    lines, who paid it and who voided it stay on record; nothing is deleted."""
    ensure_council(conn, principal, council_id)
    return payments.void(conn, principal, council_id, run_id, body.reason)


@router.get(
    "/councils/{council_id}/reconciliation/settings",
    response_model=schemas.ReconciliationSettings,
    responses=COUNCILS_ONLY,
)
def get_settings(
    council_id: str, conn: ConnDep, principal: PrincipalDep
) -> schemas.ReconciliationSettings:
    """The council's reconciliation settings."""
    ensure_council(conn, principal, council_id)
    return payments.get_settings(conn, council_id)


@router.put(
    "/councils/{council_id}/reconciliation/settings",
    response_model=schemas.ReconciliationSettings,
    responses=COUNCILS_ONLY,
)
def put_settings(
    council_id: str,
    body: schemas.ReconciliationSettings,
    conn: ConnDep,
    principal: PrincipalDep,
) -> schemas.ReconciliationSettings:
    """Whether paying a run needs a second officer."""
    ensure_council(conn, principal, council_id)
    return payments.put_settings(conn, council_id, body)


def _csv(content: bytes, name: str) -> Response:
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _csv_responses(description: str) -> dict[int | str, dict[str, Any]]:
    return {
        **COUNCILS_ONLY,
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": description},
    }


@router.get(
    RUNS + "/{run_id}/finance.csv",
    response_class=Response,
    responses=_csv_responses("Every line for finance: names, lot, amounts in GBP, variance."),
)
def export_finance(
    council_id: str, run_id: int, conn: ConnDep, principal: PrincipalDep
) -> Response:
    """Every line with provider, lot, service user (codes and names), date, claimed and
    payable minutes and amounts (GBP), the variance, the outcome and the reason in words."""
    ensure_council(conn, principal, council_id)
    return _csv(finance.lines_csv(conn, council_id, run_id), f"run-{run_id}-finance.csv")


@router.get(
    RUNS + "/{run_id}/unbilled.csv",
    response_class=Response,
    responses=_csv_responses("Verified visits in the run's period that no line claimed."),
)
def export_unbilled(
    council_id: str, run_id: int, conn: ConnDep, principal: PrincipalDep
) -> Response:
    """Verified visits nobody invoiced, with names and London times."""
    ensure_council(conn, principal, council_id)
    return _csv(finance.unbilled_csv(conn, council_id, run_id), f"run-{run_id}-unbilled.csv")


@router.get(
    RUNS + "/{run_id}/problems.csv",
    response_class=Response,
    responses=_csv_responses("Rows of the inputs the run could not use, with the reason."),
)
def export_problems(
    council_id: str, run_id: int, conn: ConnDep, principal: PrincipalDep
) -> Response:
    """The problems found in the run's invoices: file, line and what is wrong."""
    ensure_council(conn, principal, council_id)
    return _csv(finance.problems_csv(conn, council_id, run_id), f"run-{run_id}-problems.csv")
