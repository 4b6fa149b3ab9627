"""All SQL of a council's stored reconciliation: contracts, invoices, runs with their lines, the
stays each line used and the unbilled visits, and the engine's inputs read from the visit
tables. Callers own the transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row, RowMapping, text

from reconciliation.records import ActualKey


def lock_council(conn: Connection, council_id: str) -> None:
    """One writer at a time per council (contract versions, runs, payments), to commit."""
    conn.execute(text("select pg_advisory_xact_lock(hashtext(:key))"), {"key": council_id})


# Contracts -----------------------------------------------------------------------------------


def contract(conn: Connection, council_id: str, number: int | None = None) -> RowMapping | None:
    """The council's contract of that version, else its latest; None when it has none."""
    return (
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


def latest_contract_digest(conn: Connection, council_id: str) -> tuple[int, str] | None:
    row = conn.execute(
        text(
            "select version, sha256 from reconciliation_contract where council_id = :council "
            "order by version desc limit 1"
        ),
        {"council": council_id},
    ).first()
    return (row.version, row.sha256) if row is not None else None


def insert_contract(
    conn: Connection, council_id: str, version: int, content: str, sha256: str, by: str
) -> None:
    conn.execute(
        text(
            "insert into reconciliation_contract "
            "(council_id, version, content, sha256, uploaded_by) "
            "values (:council, :version, :content, :sha, :by)"
        ),
        {"council": council_id, "version": version, "content": content, "sha": sha256, "by": by},
    )


# Invoices ------------------------------------------------------------------------------------

_INVOICE_COLUMNS = "id, council_id, name, sha256, lines, problems, uploaded_by, uploaded_at"


def insert_invoice(
    conn: Connection,
    council_id: str,
    name: str,
    content: str,
    sha256: str,
    lines: int,
    problems: list[dict[str, Any]],
    by: str,
) -> int:
    invoice_id: int = conn.execute(
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
            "sha": sha256,
            "lines": lines,
            "problems": json.dumps(problems),
            "by": by,
        },
    ).scalar_one()
    return invoice_id


def _council_row(
    conn: Connection, table: str, columns: str, council_id: str, row_id: int
) -> RowMapping | None:
    """One row of a council's own: another council's id is not found, like a missing one."""
    return (
        conn.execute(
            text(f"select {columns} from {table} where council_id = :council and id = :id"),
            {"council": council_id, "id": row_id},
        )
        .mappings()
        .first()
    )


def invoice(conn: Connection, council_id: str, invoice_id: int) -> RowMapping | None:
    return _council_row(conn, "reconciliation_invoice", _INVOICE_COLUMNS, council_id, invoice_id)


def invoice_content(conn: Connection, council_id: str, invoice_id: int) -> Row[Any] | None:
    """(id, name, sha256, content) of the council's invoice."""
    return conn.execute(
        text(
            "select id, name, sha256, content from reconciliation_invoice "
            "where council_id = :council and id = :id"
        ),
        {"council": council_id, "id": invoice_id},
    ).first()


def list_invoices(conn: Connection, council_id: str, limit: int, offset: int) -> list[RowMapping]:
    rows = conn.execute(
        text(
            f"select {_INVOICE_COLUMNS} from reconciliation_invoice where council_id = :council "
            "order by id desc limit :limit offset :offset"
        ),
        {"council": council_id, "limit": limit, "offset": offset},
    ).mappings()
    return list(rows)


# The engine's inputs -------------------------------------------------------------------------


def planned_rows(
    conn: Connection, council_id: str, start: datetime, end: datetime
) -> Sequence[Any]:
    """Current planned visits of the council's service users starting in [start, end), in
    schedule.csv order."""
    return conn.execute(
        text(
            "select p.visit_ref, p.service_user_id, p.provider_id, p.planned_start, "
            "p.planned_minutes, p.carers_required, p.service_type "
            "from planned_visit_version p join service_user su on su.id = p.service_user_id "
            "where p.superseded_at is null and p.status = 'planned' and su.council_id = :council "
            "and p.planned_start >= :start and p.planned_start < :end "
            "order by p.planned_start, p.visit_ref"
        ),
        {"council": council_id, "start": start, "end": end},
    ).all()


def actual_rows(conn: Connection, council_id: str, first: date, last: date) -> Sequence[Any]:
    """Complete carer stays of the council's service users' visits on London days
    [first, last], in actuals.csv order, each with the visit, stay and events it came from."""
    return conn.execute(
        text(
            "select v.service_user_id, v.provider_id, vc.carer_id, vc.check_in, vc.check_out, "
            "vc.verification, v.id, vc.segment_id, vc.check_in_event_id, vc.check_out_event_id "
            "from visit v join visit_carer vc on vc.visit_id = v.id "
            "join service_user su on su.id = v.service_user_id "
            "where v.london_day between :first and :last and su.council_id = :council "
            "and vc.check_in is not null and vc.check_out is not null "
            "order by vc.check_in, v.service_user_id, vc.carer_id"
        ),
        {"first": first, "last": last, "council": council_id},
    ).all()


def already_claimed(conn: Connection, council_id: str) -> set[ActualKey]:
    """The actual visits lines of the council's paid runs used."""
    rows = conn.execute(
        text(
            "select e.provider_ref, e.service_user_ref, e.carer_ref, e.check_in "
            "from reconciliation_run_evidence e join reconciliation_run r on r.id = e.run_id "
            "where r.council_id = :council and r.paid_at is not null"
        ),
        {"council": council_id},
    )
    return {ActualKey(*row) for row in rows}


# Runs ----------------------------------------------------------------------------------------

_RUN_COLUMNS = (
    "id, council_id, contract_version, contract_sha256, engine_version, period_start, "
    "period_end, schedule_sha256, actuals_sha256, invoices, problems, summary, run_by, run_at, "
    "paid_by, paid_at"
)


def insert_run(conn: Connection, run: dict[str, Any]) -> int:
    """A run's header; `invoices`, `problems` and `summary` are JSON-ready values."""
    run_id: int = conn.execute(
        text(
            "insert into reconciliation_run (council_id, contract_version, contract_sha256, "
            "engine_version, period_start, period_end, schedule_sha256, actuals_sha256, "
            "invoices, problems, summary, run_by) values (:council, :version, :contract_sha, "
            ":engine, :start, :end, :schedule_sha, :actuals_sha, cast(:invoices as jsonb), "
            "cast(:problems as jsonb), cast(:summary as jsonb), :by) returning id"
        ),
        {
            **run,
            "invoices": json.dumps(run["invoices"]),
            "problems": json.dumps(run["problems"]),
            "summary": json.dumps(run["summary"]),
        },
    ).scalar_one()
    return run_id


def insert_lines(conn: Connection, lines: list[dict[str, Any]]) -> None:
    if not lines:
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
        lines,
    )


def insert_evidence(conn: Connection, evidence: list[dict[str, Any]]) -> None:
    if not evidence:
        return
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


def insert_unbilled(conn: Connection, unbilled: list[dict[str, Any]]) -> None:
    if not unbilled:
        return
    conn.execute(
        text(
            "insert into reconciliation_run_unbilled (run_id, position, provider_ref, "
            "service_user_ref, carer_ref, check_in, check_out, verification, visit_id) "
            "values (:run, :position, :provider, :home, :carer, :check_in, :check_out, "
            ":verification, :visit)"
        ),
        unbilled,
    )


def run(conn: Connection, council_id: str, run_id: int) -> RowMapping | None:
    return _council_row(conn, "reconciliation_run", _RUN_COLUMNS, council_id, run_id)


def list_runs(conn: Connection, council_id: str, limit: int, offset: int) -> list[RowMapping]:
    rows = conn.execute(
        text(
            "select id, contract_version, period_start, period_end, run_by, run_at, paid_at, "
            "(summary->'overall'->>'lines')::integer as lines, "
            "(summary->'overall'->>'claimed')::numeric as claimed, "
            "(summary->'overall'->>'payable')::numeric as payable "
            "from reconciliation_run where council_id = :council "
            "order by id desc limit :limit offset :offset"
        ),
        {"council": council_id, "limit": limit, "offset": offset},
    ).mappings()
    return list(rows)


def mark_paid(conn: Connection, run_id: int, by: str) -> None:
    conn.execute(
        text("update reconciliation_run set paid_by = :by, paid_at = now() where id = :id"),
        {"by": by, "id": run_id},
    )


# A run's lines -------------------------------------------------------------------------------

_LINE_COLUMNS = (
    "position, invoice_id, invoice_ref, line_no, provider_ref, service_user_ref, visit_date, "
    "start_time as start, end_time as end, minutes_claimed, carers, amount_claimed, outcome, "
    "reason_code, payable_minutes, payable_amount, matched_visit, carers_verified, "
    "actual_minutes, uncommissioned"
)


def list_lines(
    conn: Connection,
    run_id: int,
    *,
    outcome: str | None,
    provider_ref: str | None,
    uncommissioned: bool | None,
    limit: int,
    offset: int,
) -> list[RowMapping]:
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
            "limit": limit,
            "offset": offset,
        },
    ).mappings()
    return list(rows)


def line(conn: Connection, run_id: int, position: int) -> RowMapping | None:
    return (
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


def line_evidence(conn: Connection, run_id: int, position: int) -> list[RowMapping]:
    rows = conn.execute(
        text(
            "select visit_id, segment_id, carer_ref, check_in, check_out, verification, "
            "check_in_event_id, check_out_event_id from reconciliation_run_evidence "
            "where run_id = :run and position = :position order by check_in, carer_ref"
        ),
        {"run": run_id, "position": position},
    ).mappings()
    return list(rows)


def list_unbilled(conn: Connection, run_id: int, limit: int, offset: int) -> list[RowMapping]:
    rows = conn.execute(
        text(
            "select visit_id, provider_ref, service_user_ref, carer_ref, check_in, check_out, "
            "verification from reconciliation_run_unbilled where run_id = :run "
            "order by position limit :limit offset :offset"
        ),
        {"run": run_id, "limit": limit, "offset": offset},
    ).mappings()
    return list(rows)


def report_rows(conn: Connection, run_id: int) -> Sequence[Any]:
    """The run's lines in report.csv's column order, by position."""
    return conn.execute(
        text(
            "select invoice_ref, line_no, provider_ref, service_user_ref, visit_date, start_time, "
            "end_time, minutes_claimed, carers, amount_claimed, outcome, reason_code, "
            "payable_minutes, payable_amount, matched_visit, carers_verified, actual_minutes, "
            "uncommissioned from reconciliation_run_line where run_id = :run order by position"
        ),
        {"run": run_id},
    ).all()


def changed_lines(conn: Connection, run_id: int, other_run_id: int) -> list[RowMapping]:
    """Lines (by invoice_ref and line_no) whose outcome, reason or payable amount differ
    between the runs, and lines in only one of them; columns a_* for run_id, b_* for the
    other."""
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
    return list(rows)
