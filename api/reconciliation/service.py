"""Contracts, invoices and reconciliation runs of one council, kept in the store.

A run reads the council's current contract, the invoices named (in order), the planned visits and
verified carer stays of the council's service users (api.reconciliation.sources), and the actual
visits used by lines of the council's paid runs (already claimed), and gives them to the same
engine `ecm reconcile` uses. What it decided is stored line by line with the stays each line used,
so a run can be read, exported, compared and paid long after the visits were rebuilt."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, RowMapping, text

from api.deps import Principal
from api.errors import Conflict, NotFound, Unprocessable
from api.reconciliation import schemas
from api.reconciliation.sources import load, nothing
from api.visits.service import fresh
from core.settings import Settings
from reconciliation.contract import Contract, ContractError, Period
from reconciliation.contract_toml import parse_contract
from reconciliation.engine import reconcile
from reconciliation.formats import Problem, UnusableInput, read_invoice, write_report
from reconciliation.records import (
    ActualKey,
    InvoiceLine,
    LineResult,
    Outcome,
    Reason,
)
from reconciliation.summary import Summary, Totals, summarize

ENGINE_VERSION = f"ecm-{version('ecm')}"
MAX_NAME = 200
# Rows of one uploaded invoice (the body is limited to 50 MiB as it arrives, api.limits).
MAX_INVOICE_ROWS = 500_000


def _sha256(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


# Contracts -----------------------------------------------------------------------------------


def _contract(conn: Connection, council_id: str, number: int | None = None) -> dict[str, Any]:
    row = (
        conn.execute(
            text(
                "select council_id, version, sha256, uploaded_by, uploaded_at, content "
                "from reconciliation_contract where council_id = :council "
                "and (cast(:version as integer) is null or version = :version) "
                "order by version desc limit 1"
            ),
            {"council": council_id, "version": number},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"council {council_id} has no contract yet: PUT its contract.toml")
    return dict(row)


def put_contract(
    conn: Connection, principal: Principal, council_id: str, content: str
) -> schemas.ContractVersion:
    """Store a new version when the text changed; the same text again is the current version."""
    try:
        parse_contract(content)
    except (UnusableInput, ContractError) as exc:
        raise Unprocessable(str(exc), code="contract_invalid") from exc
    # One writer at a time per council, so versions are consecutive.
    conn.execute(text("select pg_advisory_xact_lock(hashtext(:key))"), {"key": council_id})
    current = conn.execute(
        text(
            "select version, sha256 from reconciliation_contract where council_id = :council "
            "order by version desc limit 1"
        ),
        {"council": council_id},
    ).first()
    digest = _sha256(content)
    if current is None or current.sha256 != digest:
        conn.execute(
            text(
                "insert into reconciliation_contract "
                "(council_id, version, content, sha256, uploaded_by) "
                "values (:council, :version, :content, :sha, :by)"
            ),
            {
                "council": council_id,
                "version": (current.version if current else 0) + 1,
                "content": content,
                "sha": digest,
                "by": principal.subject,
            },
        )
    return get_contract(conn, council_id)


def get_contract(conn: Connection, council_id: str) -> schemas.ContractVersion:
    return schemas.ContractVersion(**_contract(conn, council_id))


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


def upload_invoice(
    conn: Connection, principal: Principal, council_id: str, name: str, content: str
) -> schemas.Invoice:
    lines, _, problems = _parse_invoice(name, content)
    invoice_id = conn.execute(
        text(
            "insert into reconciliation_invoice "
            "(council_id, name, content, sha256, lines, problems, uploaded_by) "
            "values (:council, :name, :content, :sha, :lines, cast(:problems as jsonb), :by) "
            "returning id"
        ),
        {
            "council": council_id,
            "name": name,
            "content": content,
            "sha": _sha256(content),
            "lines": len(lines),
            "problems": json.dumps([_problem(p) for p in problems]),
            "by": principal.subject,
        },
    ).scalar_one()
    return get_invoice(conn, council_id, invoice_id)


def _problem(problem: Problem) -> dict[str, Any]:
    return {"file": problem.file, "line": problem.line, "reason": problem.reason}


_INVOICE_COLUMNS = "id, council_id, name, sha256, lines, problems, uploaded_by, uploaded_at"


def _council_row(
    conn: Connection, table: str, columns: str, council_id: str, row_id: int, what: str
) -> RowMapping:
    """One row of a council's own: another council's id is not found, like a missing one."""
    row = (
        conn.execute(
            text(f"select {columns} from {table} where council_id = :council and id = :id"),
            {"council": council_id, "id": row_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"{what} {row_id} not found")
    return row


def get_invoice(conn: Connection, council_id: str, invoice_id: int) -> schemas.Invoice:
    row = _council_row(
        conn, "reconciliation_invoice", _INVOICE_COLUMNS, council_id, invoice_id, "invoice"
    )
    return schemas.Invoice(**row)


def list_invoices(
    conn: Connection, council_id: str, limit: int, offset: int
) -> list[schemas.Invoice]:
    rows = conn.execute(
        text(
            f"select {_INVOICE_COLUMNS} from reconciliation_invoice where council_id = :council "
            "order by id desc limit :limit offset :offset"
        ),
        {"council": council_id, "limit": limit, "offset": offset},
    ).mappings()
    return [schemas.Invoice(**row) for row in rows]


# Runs ----------------------------------------------------------------------------------------


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


def _already_claimed(conn: Connection, council_id: str) -> set[ActualKey]:
    rows = conn.execute(
        text(
            "select e.provider_ref, e.service_user_ref, e.carer_ref, e.check_in "
            "from reconciliation_run_evidence e join reconciliation_run r on r.id = e.run_id "
            "where r.council_id = :council and r.paid_at is not null"
        ),
        {"council": council_id},
    )
    return {ActualKey(*row) for row in rows}


def _period(
    contract: Contract, request: schemas.RunRequest, lines: Sequence[InvoiceLine]
) -> Period | None:
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


def start_run(
    conn: Connection,
    settings: Settings,
    principal: Principal,
    council_id: str,
    request: schemas.RunRequest,
) -> schemas.Run:
    stored = _contract(conn, council_id)
    contract = parse_contract(stored["content"])
    # Runs of one council one at a time: a run reads the paid runs' claims.
    conn.execute(text("select pg_advisory_xact_lock(hashtext(:key))"), {"key": council_id})
    lines: list[InvoiceLine] = []
    invoice_of_line: list[int] = []
    problems: list[Problem] = []
    invoices: list[dict[str, Any]] = []
    for invoice_id in request.invoice_ids:
        row = conn.execute(
            text(
                "select id, name, sha256, content from reconciliation_invoice "
                "where council_id = :council and id = :id"
            ),
            {"council": council_id, "id": invoice_id},
        ).first()
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
        fresh(conn, settings)
        sources = load(conn, council_id, min(days), max(days))
    else:
        sources = nothing()  # no lines and no period: no day to read visits for
    result = reconcile(
        contract,
        sources.planned,
        sources.actuals,
        lines,
        already_claimed=_already_claimed(conn, council_id),
    )
    summary = summarize(result, contract, sources.actuals)
    run_id = conn.execute(
        text(
            "insert into reconciliation_run (council_id, contract_version, contract_sha256, "
            "engine_version, period_start, period_end, schedule_sha256, actuals_sha256, "
            "invoices, problems, summary, run_by) values (:council, :version, :contract_sha, "
            ":engine, :start, :end, :schedule_sha, :actuals_sha, cast(:invoices as jsonb), "
            "cast(:problems as jsonb), cast(:summary as jsonb), :by) returning id"
        ),
        {
            "council": council_id,
            "version": stored["version"],
            "contract_sha": stored["sha256"],
            "engine": ENGINE_VERSION,
            "start": result.period.start if result.period else None,
            "end": result.period.end if result.period else None,
            "schedule_sha": sources.schedule_sha256,
            "actuals_sha": sources.actuals_sha256,
            "invoices": json.dumps(invoices),
            "problems": json.dumps([_problem(p) for p in problems]),
            "summary": json.dumps(_summary(summary)),
            "by": principal.subject,
        },
    ).scalar_one()
    _store_lines(conn, run_id, result.lines, invoice_of_line)
    evidence = [
        {
            "run": run_id,
            "position": position,
            "provider": sources.actuals[i].provider_ref,
            "home": sources.actuals[i].service_user_ref,
            "carer": sources.actuals[i].carer_ref,
            "check_in": sources.actuals[i].check_in,
            "check_out": sources.actuals[i].check_out,
            "verification": sources.actuals[i].verification.value,
            "visit": sources.stays[i].visit_id,
            "segment": sources.stays[i].segment_id,
            "in_event": sources.stays[i].check_in_event_id,
            "out_event": sources.stays[i].check_out_event_id,
        }
        for position, line_result in enumerate(result.lines, start=1)
        for i in line_result.used_actuals
    ]
    if evidence:
        conn.execute(
            text(
                "insert into reconciliation_run_evidence (run_id, position, provider_ref, "
                "service_user_ref, carer_ref, check_in, check_out, verification, visit_id, "
                "segment_id, check_in_event_id, check_out_event_id) values (:run, :position, "
                ":provider, :home, :carer, :check_in, :check_out, :verification, :visit, "
                ":segment, :in_event, :out_event)"
            ),
            evidence,
        )
    unbilled = [
        {
            "run": run_id,
            "position": position,
            "provider": sources.actuals[i].provider_ref,
            "home": sources.actuals[i].service_user_ref,
            "carer": sources.actuals[i].carer_ref,
            "check_in": sources.actuals[i].check_in,
            "check_out": sources.actuals[i].check_out,
            "verification": sources.actuals[i].verification.value,
            "visit": sources.stays[i].visit_id,
        }
        for position, i in enumerate(result.unbilled, start=1)
    ]
    if unbilled:
        conn.execute(
            text(
                "insert into reconciliation_run_unbilled (run_id, position, provider_ref, "
                "service_user_ref, carer_ref, check_in, check_out, verification, visit_id) "
                "values (:run, :position, :provider, :home, :carer, :check_in, :check_out, "
                ":verification, :visit)"
            ),
            unbilled,
        )
    return get_run(conn, council_id, run_id)


def _store_lines(
    conn: Connection, run_id: int, results: Sequence[LineResult], invoice_of_line: list[int]
) -> None:
    if not results:
        return
    conn.execute(
        text(
            "insert into reconciliation_run_line (run_id, position, invoice_id, invoice_ref, "
            "line_no, provider_ref, service_user_ref, visit_date, start_time, end_time, "
            "minutes_claimed, carers, amount_claimed, outcome, reason_code, payable_minutes, "
            "payable_amount, matched_visit, carers_verified, actual_minutes, uncommissioned) "
            "values (:run, :position, :invoice, :invoice_ref, :line_no, :provider, :home, :day, "
            ":start, :end, :minutes, :carers, :amount, :outcome, :reason, :payable_minutes, "
            ":payable_amount, :matched, :carers_verified, :actual_minutes, :uncommissioned)"
        ),
        [
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
        ],
    )


_RUN_COLUMNS = (
    "id, council_id, contract_version, contract_sha256, engine_version, period_start, "
    "period_end, schedule_sha256, actuals_sha256, invoices, problems, summary, run_by, run_at, "
    "paid_by, paid_at"
)


def get_run(conn: Connection, council_id: str, run_id: int) -> schemas.Run:
    row = _council_row(
        conn, "reconciliation_run", _RUN_COLUMNS, council_id, run_id, "reconciliation run"
    )
    return schemas.Run(
        **row, rules_version=f"{row['contract_sha256'][:16]}/{row['engine_version']}"
    )


def list_runs(conn: Connection, council_id: str, limit: int, offset: int) -> schemas.RunList:
    rows = conn.execute(
        text(
            "select id, contract_version, period_start, period_end, run_by, run_at, paid_at, "
            "(summary->'overall'->>'lines')::integer as lines, "
            "(summary->'overall'->>'claimed')::numeric as claimed, "
            "(summary->'overall'->>'payable')::numeric as payable "
            "from reconciliation_run where council_id = :council "
            "order by id desc limit :limit offset :offset"
        ),
        {"council": council_id, "limit": limit + 1, "offset": offset},
    ).mappings()
    items = [schemas.RunListItem(**row) for row in rows]
    next_offset = offset + limit if len(items) > limit else None
    return schemas.RunList(items=items[:limit], next_offset=next_offset)


_LINE_COLUMNS = (
    "position, invoice_id, invoice_ref, line_no, provider_ref, service_user_ref, visit_date, "
    "start_time as start, end_time as end, minutes_claimed, carers, amount_claimed, outcome, "
    "reason_code, payable_minutes, payable_amount, matched_visit, carers_verified, "
    "actual_minutes, uncommissioned"
)


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
) -> schemas.RunLinePage:
    get_run(conn, council_id, run_id)
    rows = conn.execute(
        text(
            f"select {_LINE_COLUMNS} from reconciliation_run_line where run_id = :run "
            "and (cast(:outcome as text) is null or outcome = :outcome) "
            "and (cast(:provider as text) is null or provider_ref = :provider) "
            "and (cast(:uncommissioned as boolean) is null or uncommissioned = :uncommissioned) "
            "order by position limit :limit offset :offset"
        ),
        {
            "run": run_id,
            "outcome": outcome,
            "provider": provider_ref,
            "uncommissioned": uncommissioned,
            "limit": limit + 1,
            "offset": offset,
        },
    ).mappings()
    items = [schemas.RunLine(**row) for row in rows]
    next_offset = offset + limit if len(items) > limit else None
    return schemas.RunLinePage(items=items[:limit], next_offset=next_offset)


def get_line(
    conn: Connection, council_id: str, run_id: int, position: int
) -> schemas.RunLineDetail:
    get_run(conn, council_id, run_id)
    row = (
        conn.execute(
            text(
                f"select {_LINE_COLUMNS} from reconciliation_run_line "
                "where run_id = :run and position = :position"
            ),
            {"run": run_id, "position": position},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"line {position} of reconciliation run {run_id} not found")
    evidence = conn.execute(
        text(
            "select visit_id, segment_id, carer_ref, check_in, check_out, verification, "
            "check_in_event_id, check_out_event_id from reconciliation_run_evidence "
            "where run_id = :run and position = :position order by check_in, carer_ref"
        ),
        {"run": run_id, "position": position},
    ).mappings()
    return schemas.RunLineDetail(
        **row,
        evidence=[
            schemas.LineEvidence(
                **{k: v for k, v in e.items() if not k.endswith("_event_id")},
                event_ids=[
                    i for i in (e["check_in_event_id"], e["check_out_event_id"]) if i is not None
                ],
            )
            for e in evidence
        ],
    )


def list_unbilled(
    conn: Connection, council_id: str, run_id: int, limit: int, offset: int
) -> list[schemas.UnbilledVisit]:
    get_run(conn, council_id, run_id)
    rows = conn.execute(
        text(
            "select visit_id, provider_ref, service_user_ref, carer_ref, check_in, check_out, "
            "verification from reconciliation_run_unbilled where run_id = :run "
            "order by position limit :limit offset :offset"
        ),
        {"run": run_id, "limit": limit, "offset": offset},
    ).mappings()
    return [schemas.UnbilledVisit(**row) for row in rows]


def report_csv(conn: Connection, council_id: str, run_id: int) -> bytes:
    """report.csv of the run, written by the command's own writer."""
    get_run(conn, council_id, run_id)
    rows = conn.execute(
        text(
            "select invoice_ref, line_no, provider_ref, service_user_ref, visit_date, start_time, "
            "end_time, minutes_claimed, carers, amount_claimed, outcome, reason_code, "
            "payable_minutes, payable_amount, matched_visit, carers_verified, actual_minutes, "
            "uncommissioned from reconciliation_run_line where run_id = :run order by position"
        ),
        {"run": run_id},
    )
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
        for row in rows
    ]
    with tempfile.TemporaryDirectory(prefix="ecm-report-") as directory:
        path = Path(directory) / "report.csv"
        write_report(path, results)
        return path.read_bytes()


def mark_paid(conn: Connection, principal: Principal, council_id: str, run_id: int) -> schemas.Run:
    # The runs' lock: a run that has started either sees this payment or finished before it.
    conn.execute(text("select pg_advisory_xact_lock(hashtext(:key))"), {"key": council_id})
    run = get_run(conn, council_id, run_id)
    if run.paid_at is not None:
        raise Conflict(f"reconciliation run {run_id} was already paid", code="already_paid")
    conn.execute(
        text("update reconciliation_run set paid_by = :by, paid_at = now() where id = :id"),
        {"by": principal.subject, "id": run_id},
    )
    return get_run(conn, council_id, run_id)


def compare(
    conn: Connection, council_id: str, run_id: int, other_run_id: int
) -> schemas.RunComparison:
    """Lines (by invoice_ref and line_no) whose outcome, reason or payable amount differ
    between run_id (before) and other_run_id (after), and lines in only one of them."""
    get_run(conn, council_id, run_id)
    get_run(conn, council_id, other_run_id)
    rows = conn.execute(
        text(
            "with a as (select distinct on (invoice_ref, line_no) * from reconciliation_run_line "
            "  where run_id = :a order by invoice_ref, line_no, position), "
            "b as (select distinct on (invoice_ref, line_no) * from reconciliation_run_line "
            "  where run_id = :b order by invoice_ref, line_no, position) "
            "select coalesce(a.invoice_ref, b.invoice_ref) as invoice_ref, "
            "coalesce(a.line_no, b.line_no) as line_no, "
            "a.outcome as a_outcome, a.reason_code as a_reason, "
            "a.payable_minutes as a_minutes, a.payable_amount as a_amount, "
            "b.outcome as b_outcome, b.reason_code as b_reason, "
            "b.payable_minutes as b_minutes, b.payable_amount as b_amount "
            "from a full join b on a.invoice_ref = b.invoice_ref and a.line_no = b.line_no "
            "where a.position is null or b.position is null "
            "or (a.outcome, a.reason_code, a.payable_minutes, a.payable_amount) "
            "   is distinct from (b.outcome, b.reason_code, b.payable_minutes, b.payable_amount) "
            "order by 1, 2"
        ),
        {"a": run_id, "b": other_run_id},
    ).mappings()

    def state(row: Any, side: str) -> schemas.LineState | None:
        if row[f"{side}_outcome"] is None:
            return None
        return schemas.LineState(
            outcome=row[f"{side}_outcome"],
            reason_code=row[f"{side}_reason"],
            payable_minutes=row[f"{side}_minutes"],
            payable_amount=row[f"{side}_amount"],
        )

    return schemas.RunComparison(
        run_id=run_id,
        other_run_id=other_run_id,
        changes=[
            schemas.LineChange(
                invoice_ref=row["invoice_ref"],
                line_no=row["line_no"],
                before=state(row, "a"),
                after=state(row, "b"),
            )
            for row in rows
        ],
    )
