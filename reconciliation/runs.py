"""A council's reconciliation in the store: contracts, invoices and runs (the service).

A run is three steps: `load` reads the council's current contract, the invoices named (in
order), the planned visits and verified carer stays of the council's service users
(reconciliation.sources) and the actual visits used by lines of the council's paid runs
(already claimed); `decide` gives them to the same engine `ecm reconcile` uses
(reconciliation.engine, pure); `persist` stores what it decided line by line with the stays each
line used, so a run can be read, exported, compared and paid long after the visits were
rebuilt. All SQL is in reconciliation.run_store; the caller owns the transaction."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, RowMapping

from core.access import Scope
from core.errors import NotFound, Unprocessable
from reconciliation import run_store
from reconciliation.contract import Contract, ContractError, Period
from reconciliation.contract_toml import parse_contract
from reconciliation.engine import Reconciliation, reconcile
from reconciliation.formats import Problem, UnusableInput, read_invoice, write_report
from reconciliation.records import ActualKey, InvoiceLine, LineResult, Outcome, Reason
from reconciliation.sources import Sources, load_sources, nothing
from reconciliation.summary import Summary, Totals, summarize
from reconciliation.views import (
    ContractVersion,
    Invoice,
    LineChange,
    LineEvidence,
    LineState,
    Run,
    RunComparison,
    RunLine,
    RunLineDetail,
    RunLinePage,
    RunList,
    RunListItem,
    RunRequest,
    UnbilledVisit,
)
from visits.freshness import VisitFreshness

ENGINE_VERSION = f"ecm-{version('ecm')}"
MAX_NAME = 200
# Rows of one uploaded invoice (the body is limited to 50 MiB as it arrives, api.limits).
MAX_INVOICE_ROWS = 500_000


def _sha256(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


# Contracts -----------------------------------------------------------------------------------


def _contract(conn: Connection, council_id: str) -> RowMapping:
    row = run_store.contract(conn, council_id)
    if row is None:
        raise NotFound(f"council {council_id} has no contract yet: PUT its contract.toml")
    return row


def put_contract(conn: Connection, scope: Scope, council_id: str, content: str) -> ContractVersion:
    """Store a new version when the text changed; the same text again is the current version."""
    try:
        parse_contract(content)
    except (UnusableInput, ContractError) as exc:
        raise Unprocessable(str(exc), code="contract_invalid") from exc
    # One writer at a time per council, so versions are consecutive.
    run_store.lock_council(conn, council_id)
    current = run_store.latest_contract_digest(conn, council_id)
    digest = _sha256(content)
    if current is None or current[1] != digest:
        number = (current[0] if current else 0) + 1
        run_store.insert_contract(conn, council_id, number, content, digest, scope.subject)
    return get_contract(conn, council_id)


def get_contract(conn: Connection, council_id: str) -> ContractVersion:
    return ContractVersion(**_contract(conn, council_id))


# Invoices ------------------------------------------------------------------------------------


def _parse_invoice(name: str, content: str) -> tuple[list[InvoiceLine], list[int], list[Problem]]:
    """The command's own reader, on the uploaded text: lines, the file line of each, and
    problems naming the uploaded file."""
    with tempfile.TemporaryDirectory(prefix="ecm-invoice-") as directory:
        path = Path(directory) / "invoice.csv"
        path.write_text(content, encoding="utf-8", newline="")
        try:
            loaded = read_invoice(path, max_rows=MAX_INVOICE_ROWS)
        except UnusableInput as exc:
            raise Unprocessable(
                "; ".join(m.replace(str(path), name) for m in exc.messages),
                code="invoice_invalid",
            ) from exc
    problems = [Problem(name, p.line, p.reason) for p in loaded.problems]
    return loaded.records, loaded.lines, problems


def _problem(problem: Problem) -> dict[str, Any]:
    return {"file": problem.file, "line": problem.line, "reason": problem.reason}


def upload_invoice(
    conn: Connection, scope: Scope, council_id: str, name: str, content: str
) -> Invoice:
    lines, _, problems = _parse_invoice(name, content)
    invoice_id = run_store.insert_invoice(
        conn,
        council_id,
        name,
        content,
        _sha256(content),
        len(lines),
        [_problem(p) for p in problems],
        scope.subject,
    )
    return get_invoice(conn, council_id, invoice_id)


def get_invoice(conn: Connection, council_id: str, invoice_id: int) -> Invoice:
    row = run_store.invoice(conn, council_id, invoice_id)
    if row is None:
        raise NotFound(f"invoice {invoice_id} not found")
    return Invoice(**row)


def list_invoices(conn: Connection, council_id: str, limit: int, offset: int) -> list[Invoice]:
    return [Invoice(**row) for row in run_store.list_invoices(conn, council_id, limit, offset)]


# Runs: load, decide, persist -----------------------------------------------------------------


@dataclass(frozen=True)
class RunInputs:
    """Everything a run decides from, read from the store."""

    contract_version: int
    contract_sha256: str
    contract: Contract
    lines: list[InvoiceLine]
    invoice_of_line: list[int]  # invoice id of lines[i]
    invoices: list[dict[str, Any]]  # id, name, sha256 in the order asked for
    problems: list[Problem]
    sources: Sources
    already_claimed: set[ActualKey]


@dataclass(frozen=True)
class Decision:
    result: Reconciliation
    summary: Summary


def _period(contract: Contract, request: RunRequest, lines: Sequence[InvoiceLine]) -> Period | None:
    if (request.period_start is None) != (request.period_end is None):
        raise Unprocessable("give both period_start and period_end, or neither", code="period")
    if request.period_start is not None and request.period_end is not None:
        try:
            return Period(request.period_start, request.period_end)
        except ContractError as exc:
            raise Unprocessable(str(exc), code="period") from exc
    if contract.period is not None:
        return contract.period
    days = [line.visit_date for line in lines]
    return Period(min(days), max(days)) if days else None


def load(
    conn: Connection, freshness: VisitFreshness, council_id: str, request: RunRequest
) -> RunInputs:
    """Step 1: the contract, the invoices' lines, the visits of the period and the claims of
    paid runs. Takes the council's runs lock: a run reads the paid runs' claims."""
    stored = _contract(conn, council_id)
    contract = parse_contract(stored["content"])
    run_store.lock_council(conn, council_id)
    lines: list[InvoiceLine] = []
    invoice_of_line: list[int] = []
    problems: list[Problem] = []
    invoices: list[dict[str, Any]] = []
    for invoice_id in request.invoice_ids:
        row = run_store.invoice_content(conn, council_id, invoice_id)
        if row is None:
            raise NotFound(f"invoice {invoice_id} not found")
        invoices.append({"id": row.id, "name": row.name, "sha256": row.sha256})
        records, file_lines, file_problems = _parse_invoice(row.name, row.content)
        # As the command does: a line of a provider the contract does not price is reported.
        for line, file_line in zip(records, file_lines, strict=True):
            if line.provider_ref in contract.providers:
                lines.append(line)
                invoice_of_line.append(row.id)
            else:
                file_problems.append(
                    Problem(row.name, file_line, f"provider {line.provider_ref} not in contract")
                )
        problems += sorted(file_problems, key=lambda problem: problem.line)
    period = _period(contract, request, lines)
    if period is not None:
        contract = replace(contract, period=period)
        days = [period.start, period.end, *(line.visit_date for line in lines)]
        # Visits are derived data: fold in evidence stored since the last build first, as every
        # visit read does, or a run could miss visits the events already show.
        freshness.fresh()
        sources = load_sources(conn, council_id, min(days), max(days))
    else:
        sources = nothing()  # no lines and no period: no day to read visits for
    return RunInputs(
        contract_version=stored["version"],
        contract_sha256=stored["sha256"],
        contract=contract,
        lines=lines,
        invoice_of_line=invoice_of_line,
        invoices=invoices,
        problems=problems,
        sources=sources,
        already_claimed=run_store.already_claimed(conn, council_id),
    )


def decide(inputs: RunInputs) -> Decision:
    """Step 2, pure: the engine's outcome for every line, and the totals."""
    result = reconcile(
        inputs.contract,
        inputs.sources.planned,
        inputs.sources.actuals,
        inputs.lines,
        already_claimed=inputs.already_claimed,
    )
    return Decision(result, summarize(result, inputs.contract, inputs.sources.actuals))


def _totals(totals: Totals) -> dict[str, Any]:
    return {
        "lines": totals.lines,
        "claimed": str(totals.claimed),
        "payable": str(totals.payable),
        "variance": str(totals.variance),
        "block": str(totals.block),
        "due": str(totals.due),
        "outcomes": {outcome.value: totals.outcomes[outcome] for outcome in Outcome},
        "unbilled_visits": totals.unbilled_visits,
        "uncommissioned_lines": totals.uncommissioned_lines,
    }


def _summary(summary: Summary) -> dict[str, Any]:
    return {
        "overall": _totals(summary.overall),
        "providers": {ref: _totals(t) for ref, t in summary.providers.items()},
        "lots": {lot: _totals(t) for lot, t in summary.lots.items()},
    }


def persist(
    conn: Connection, scope: Scope, council_id: str, inputs: RunInputs, decision: Decision
) -> int:
    """Step 3: the run, its lines, the stays each payable line used, and the unbilled visits.
    Returns the run's id."""
    result, sources = decision.result, inputs.sources
    run_id = run_store.insert_run(
        conn,
        {
            "council": council_id,
            "version": inputs.contract_version,
            "contract_sha": inputs.contract_sha256,
            "engine": ENGINE_VERSION,
            "start": result.period.start if result.period else None,
            "end": result.period.end if result.period else None,
            "schedule_sha": sources.schedule_sha256,
            "actuals_sha": sources.actuals_sha256,
            "invoices": inputs.invoices,
            "problems": [_problem(p) for p in inputs.problems],
            "summary": _summary(decision.summary),
            "by": scope.subject,
        },
    )
    run_store.insert_lines(conn, _line_rows(run_id, result.lines, inputs.invoice_of_line))
    actuals, stays = sources.actuals, sources.stays
    run_store.insert_evidence(
        conn,
        [
            {
                "run": run_id,
                "position": position,
                "provider": actuals[i].provider_ref,
                "home": actuals[i].service_user_ref,
                "carer": actuals[i].carer_ref,
                "check_in": actuals[i].check_in,
                "check_out": actuals[i].check_out,
                "verification": actuals[i].verification.value,
                "visit": stays[i].visit_id,
                "segment": stays[i].segment_id,
                "in_event": stays[i].check_in_event_id,
                "out_event": stays[i].check_out_event_id,
            }
            for position, line_result in enumerate(result.lines, start=1)
            for i in line_result.used_actuals
        ],
    )
    run_store.insert_unbilled(
        conn,
        [
            {
                "run": run_id,
                "position": position,
                "provider": actuals[i].provider_ref,
                "home": actuals[i].service_user_ref,
                "carer": actuals[i].carer_ref,
                "check_in": actuals[i].check_in,
                "check_out": actuals[i].check_out,
                "verification": actuals[i].verification.value,
                "visit": stays[i].visit_id,
            }
            for position, i in enumerate(result.unbilled, start=1)
        ],
    )
    return run_id


def _line_rows(
    run_id: int, results: Sequence[LineResult], invoice_of_line: list[int]
) -> list[dict[str, Any]]:
    return [
        {
            "run": run_id,
            "position": position,
            "invoice": invoice_of_line[position - 1],
            "invoice_ref": r.line.invoice_ref,
            "line_no": r.line.line_no,
            "provider": r.line.provider_ref,
            "home": r.line.service_user_ref,
            "day": r.line.visit_date,
            "start": r.line.start,
            "end": r.line.end,
            "minutes": r.line.minutes_claimed,
            "carers": r.line.carers,
            "amount": r.line.amount_claimed,
            "outcome": r.outcome.value,
            "reason": r.reason.value if r.reason else None,
            "payable_minutes": r.payable_minutes,
            "payable_amount": r.payable_amount,
            "matched": r.matched_visit,
            "carers_verified": r.carers_verified,
            "actual_minutes": r.actual_minutes,
            "uncommissioned": r.uncommissioned,
        }
        for position, r in enumerate(results, start=1)
    ]


def start_run(
    conn: Connection,
    freshness: VisitFreshness,
    scope: Scope,
    council_id: str,
    request: RunRequest,
) -> Run:
    """Reconcile the invoices named: load, decide, persist; the stored run."""
    inputs = load(conn, freshness, council_id, request)
    run_id = persist(conn, scope, council_id, inputs, decide(inputs))
    return get_run(conn, council_id, run_id)


# Reading runs --------------------------------------------------------------------------------


def get_run(conn: Connection, council_id: str, run_id: int) -> Run:
    row = run_store.run(conn, council_id, run_id)
    if row is None:
        raise NotFound(f"reconciliation run {run_id} not found")
    return Run(**row, rules_version=f"{row['contract_sha256'][:16]}/{row['engine_version']}")


def list_runs(conn: Connection, council_id: str, limit: int, offset: int) -> RunList:
    rows = run_store.list_runs(conn, council_id, limit + 1, offset)
    items = [RunListItem(**row) for row in rows]
    next_offset = offset + limit if len(items) > limit else None
    return RunList(items=items[:limit], next_offset=next_offset)


def list_lines(
    conn: Connection,
    council_id: str,
    run_id: int,
    *,
    outcome: str | None,
    provider_ref: str | None,
    uncommissioned: bool | None,
    limit: int,
    offset: int,
    reason_code: str | None = None,
    sort: str = "position",
) -> RunLinePage:
    """A page of the run's lines with the filters; `total` counts every line they select."""
    get_run(conn, council_id, run_id)
    if sort.lstrip("-") not in run_store.LINE_SORTS:
        raise Unprocessable(
            f"sort by one of {', '.join(run_store.LINE_SORTS)} (- before it: descending)",
            code="sort",
        )
    rows = run_store.list_lines(
        conn,
        run_id,
        outcome=outcome,
        provider_ref=provider_ref,
        uncommissioned=uncommissioned,
        reason_code=reason_code,
        limit=limit + 1,
        offset=offset,
        sort=sort,
    )
    items = [RunLine(**row) for row in rows]
    next_offset = offset + limit if len(items) > limit else None
    total = run_store.count_lines(
        conn,
        run_id,
        outcome=outcome,
        provider_ref=provider_ref,
        uncommissioned=uncommissioned,
        reason_code=reason_code,
    )
    return RunLinePage(items=items[:limit], next_offset=next_offset, total=total)


def line_facets(conn: Connection, council_id: str, run_id: int) -> tuple[list[str], list[str]]:
    """The providers and reason codes of the run's lines (what its filters can choose)."""
    get_run(conn, council_id, run_id)
    return run_store.line_facets(conn, run_id)


def get_line(conn: Connection, council_id: str, run_id: int, position: int) -> RunLineDetail:
    get_run(conn, council_id, run_id)
    row = run_store.line(conn, run_id, position)
    if row is None:
        raise NotFound(f"line {position} of reconciliation run {run_id} not found")
    return RunLineDetail(
        **row,
        evidence=[
            LineEvidence(
                **{k: v for k, v in e.items() if not k.endswith("_event_id")},
                event_ids=[
                    i for i in (e["check_in_event_id"], e["check_out_event_id"]) if i is not None
                ],
            )
            for e in run_store.line_evidence(conn, run_id, position)
        ],
    )


def list_unbilled(
    conn: Connection, council_id: str, run_id: int, limit: int, offset: int
) -> list[UnbilledVisit]:
    get_run(conn, council_id, run_id)
    rows = run_store.list_unbilled(conn, run_id, limit, offset)
    return [UnbilledVisit(**row) for row in rows]


def report_csv(conn: Connection, council_id: str, run_id: int) -> bytes:
    """report.csv of the run, written by the command's own writer."""
    get_run(conn, council_id, run_id)
    results = [
        LineResult(
            InvoiceLine(*row[:10]),
            Outcome(row.outcome),
            Reason(row.reason_code) if row.reason_code else None,
            row.payable_minutes,
            row.payable_amount,
            row.matched_visit,
            row.carers_verified,
            row.actual_minutes,
            (),
            row.uncommissioned,
        )
        for row in run_store.report_rows(conn, run_id)
    ]
    with tempfile.TemporaryDirectory(prefix="ecm-report-") as directory:
        path = Path(directory) / "report.csv"
        write_report(path, results)
        return path.read_bytes()


def compare(conn: Connection, council_id: str, run_id: int, other_run_id: int) -> RunComparison:
    """Lines (by invoice_ref and line_no) whose outcome, reason or payable amount differ
    between run_id (before) and other_run_id (after), and lines in only one of them."""
    get_run(conn, council_id, run_id)
    get_run(conn, council_id, other_run_id)

    def state(row: RowMapping, side: str) -> LineState | None:
        if row[f"{side}_outcome"] is None:
            return None
        return LineState(
            outcome=row[f"{side}_outcome"],
            reason_code=row[f"{side}_reason"],
            payable_minutes=row[f"{side}_minutes"],
            payable_amount=row[f"{side}_amount"],
        )

    return RunComparison(
        run_id=run_id,
        other_run_id=other_run_id,
        changes=[
            LineChange(
                invoice_ref=row["invoice_ref"],
                line_no=row["line_no"],
                before=state(row, "a"),
                after=state(row, "b"),
            )
            for row in run_store.changed_lines(conn, run_id, other_run_id)
        ],
    )
