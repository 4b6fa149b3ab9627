"""Small builders for engine tests: one service user, one provider, times written as text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from reconciliation import (
    ActualKey,
    ActualVisit,
    Contract,
    ContractKind,
    InvoiceLine,
    LineResult,
    PlannedVisit,
    ProviderTerms,
    Rules,
    Verification,
    reconcile,
)

RATE = Decimal("24.12")


def at(text: str) -> datetime:
    """'2026-03-02 07:30' (UTC unless an offset is given) -> an aware datetime."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else datetime.fromisoformat(text + "+00:00")


def planned(
    start: str,
    minutes: int,
    ref: str = "V1",
    carers: int = 1,
    service_user: str = "SU1",
    provider: str = "P1",
) -> PlannedVisit:
    return PlannedVisit(ref, service_user, provider, at(start), minutes, carers, "personal_care")


def actual(
    check_in: str,
    check_out: str,
    carer: str = "C1",
    verification: str = "tag",
    service_user: str = "SU1",
    provider: str = "P1",
) -> ActualVisit:
    return ActualVisit(
        service_user, provider, carer, at(check_in), at(check_out), Verification(verification)
    )


def line(
    day: str,
    start: str,
    end: str,
    minutes: int,
    amount: str,
    carers: int = 1,
    line_no: int = 1,
    invoice: str = "INV1",
    service_user: str = "SU1",
    provider: str = "P1",
) -> InvoiceLine:
    return InvoiceLine(
        invoice,
        line_no,
        provider,
        service_user,
        date.fromisoformat(day),
        time.fromisoformat(start),
        time.fromisoformat(end),
        minutes,
        carers,
        Decimal(amount),
    )


def contract(
    rate: Decimal = RATE,
    kind: ContractKind = ContractKind.FRAMEWORK,
    terms: dict[str, Any] | None = None,
    **rules: Any,
) -> Contract:
    return Contract(
        Rules(**rules), {"P1": ProviderTerms("P1", kind, rate, **(terms or {}))}, period=None
    )


def run(
    plans: Sequence[PlannedVisit],
    actuals: Sequence[ActualVisit],
    lines: Sequence[InvoiceLine],
    rules_contract: Contract | None = None,
    already_claimed: frozenset[ActualKey] = frozenset(),
) -> list[LineResult]:
    return reconcile(
        rules_contract or contract(), plans, actuals, lines, already_claimed=already_claimed
    ).lines


def one(
    plans: Sequence[PlannedVisit],
    actuals: Sequence[ActualVisit],
    claim: InvoiceLine,
    rules_contract: Contract | None = None,
) -> LineResult:
    (result,) = run(plans, actuals, [claim], rules_contract)
    return result


def row(result: LineResult) -> tuple[str, str, int, str, str]:
    """The report.csv view of a result: outcome, reason, minutes, amount, matched visit."""
    return (
        result.outcome.value,
        result.reason.value if result.reason else "",
        result.payable_minutes,
        f"{result.payable_amount:.2f}",
        result.matched_visit,
    )
