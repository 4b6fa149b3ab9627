"""Exports of a stored run for finance: every line with provider, lot, service user (names and
codes), date, claimed and payable minutes and amounts, the variance and the reason in words;
the verified visits nobody invoiced; and the problems found in the inputs. Amounts are pounds
(GBP), written as plain numbers so a spreadsheet can add them up; times are London time. Every
cell goes through core.csv_safe (safe to open in a spreadsheet, docs/csv.md)."""

from __future__ import annotations

from sqlalchemy import Connection

from core.csv_safe import csv_bytes
from core.times import LONDON
from gateway.registry import names as registry_names
from gateway.registry.repository import lots_of
from reconciliation import run_store
from reconciliation.contract_toml import parse_contract
from reconciliation.formats import UnusableInput
from reconciliation.runs import get_run
from reconciliation.wording import outcome_words, reason_words

LINE_COLUMNS = (
    "Invoice",
    "Line",
    "Provider",
    "Provider name",
    "Lot",
    "Service user",
    "Service user name",
    "Visit date",
    "Start",
    "End",
    "Claimed minutes",
    "Claimed amount (GBP)",
    "Payable minutes",
    "Payable amount (GBP)",
    "Variance (GBP)",
    "Outcome",
    "Reason",
    "Reason code",
    "Planned visit",
)
UNBILLED_COLUMNS = (
    "Provider",
    "Provider name",
    "Lot",
    "Service user",
    "Service user name",
    "Carer",
    "Carer name",
    "Visit date",
    "Check-in",
    "Check-out",
    "Minutes",
    "Verified by",
)
PROBLEM_COLUMNS = ("File", "Line", "Problem")


def run_lots(conn: Connection, council_id: str, run_id: int) -> dict[str, str]:
    """{provider: lot} as the run's own contract version says, else as the council's
    commissions say."""
    run = get_run(conn, council_id, run_id)
    lots = lots_of(conn, council_id)
    stored = run_store.contract(conn, council_id, run.contract_version)
    if stored is not None:
        try:
            contract = parse_contract(stored["content"])
        except UnusableInput:
            return lots
        for ref, terms in contract.providers.items():
            if terms.lot:
                lots[ref] = terms.lot
    return lots


def lines_csv(conn: Connection, council_id: str, run_id: int) -> bytes:
    lots = run_lots(conn, council_id, run_id)
    rows = run_store.all_lines(conn, run_id)
    names = registry_names.lookup(
        conn,
        providers=[r["provider_ref"] for r in rows],
        service_users=[r["service_user_ref"] for r in rows],
    )
    return csv_bytes(
        LINE_COLUMNS,
        (
            (
                r["invoice_ref"],
                r["line_no"],
                r["provider_ref"],
                names.provider(r["provider_ref"]) or "",
                lots.get(r["provider_ref"], ""),
                r["service_user_ref"],
                names.service_user(r["service_user_ref"]) or "",
                r["visit_date"].isoformat(),
                r["start"].strftime("%H:%M"),
                r["end"].strftime("%H:%M"),
                r["minutes_claimed"],
                r["amount_claimed"],
                r["payable_minutes"],
                r["payable_amount"],
                r["amount_claimed"] - r["payable_amount"],
                outcome_words(r["outcome"]),
                reason_words(r["reason_code"]),
                r["reason_code"] or "",
                r["matched_visit"],
            )
            for r in rows
        ),
    )


def unbilled_csv(conn: Connection, council_id: str, run_id: int) -> bytes:
    lots = run_lots(conn, council_id, run_id)
    rows = run_store.list_unbilled(conn, run_id, 1_000_000, 0)
    names = registry_names.lookup(
        conn,
        providers=[r["provider_ref"] for r in rows],
        carers=[r["carer_ref"] for r in rows],
        service_users=[r["service_user_ref"] for r in rows],
    )
    return csv_bytes(
        UNBILLED_COLUMNS,
        (
            (
                r["provider_ref"],
                names.provider(r["provider_ref"]) or "",
                lots.get(r["provider_ref"], ""),
                r["service_user_ref"],
                names.service_user(r["service_user_ref"]) or "",
                r["carer_ref"],
                names.carer(r["carer_ref"]) or "",
                r["check_in"].astimezone(LONDON).date().isoformat(),
                r["check_in"].astimezone(LONDON).strftime("%H:%M"),
                r["check_out"].astimezone(LONDON).strftime("%H:%M"),
                int((r["check_out"] - r["check_in"]).total_seconds() // 60),
                r["verification"],
            )
            for r in rows
        ),
    )


def problems_csv(conn: Connection, council_id: str, run_id: int) -> bytes:
    run = get_run(conn, council_id, run_id)
    return csv_bytes(PROBLEM_COLUMNS, ((p.file, p.line, p.reason) for p in run.problems))
