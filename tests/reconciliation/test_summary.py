"""Totals per provider and per lot, unbilled visits and uncommissioned lines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from reconciliation import (
    ActualKey,
    Contract,
    ContractKind,
    Outcome,
    Period,
    ProviderTerms,
    Rules,
    reconcile,
)
from reconciliation.summary import NO_LOT, summarize
from tests.reconciliation.support import actual, at, line, planned


def test_totals_per_provider_and_lot_with_unbilled_and_uncommissioned() -> None:
    contract = Contract(
        Rules(),
        {
            "P1": ProviderTerms("P1", ContractKind.FRAMEWORK, Decimal("24.12"), lot="North"),
            "P2": ProviderTerms("P2", ContractKind.SPOT, Decimal("30.00")),
            "P3": ProviderTerms(
                "P3", ContractKind.BLOCK, Decimal("20.00"), block_hours_per_week=Decimal(1)
            ),
        },
        Period(date(2026, 3, 2), date(2026, 3, 8)),
    )
    plans = [planned("2026-03-02 07:30", 30), planned("2026-03-02 09:00", 30, "V2", provider="P2")]
    actuals = [
        actual("2026-03-02 07:30", "2026-03-02 08:00"),
        actual("2026-03-02 09:00", "2026-03-02 09:30", provider="P2"),
        # verified, in the period, nobody claims it: unbilled
        actual("2026-03-03 09:00", "2026-03-03 09:30", provider="P2"),
        # manual: not a verified visit, so not in the unbilled list
        actual("2026-03-04 09:00", "2026-03-04 09:30", provider="P2", verification="manual"),
        # verified but outside the period
        actual("2026-03-09 09:00", "2026-03-09 09:30", provider="P2"),
    ]
    lines = [
        line("2026-03-02", "07:30", "08:00", 30, "12.06"),  # approved 12.06
        line("2026-03-02", "09:00", "09:30", 30, "16.00", provider="P2"),  # 15.00: RATE_MISMATCH
        line("2026-03-02", "10:00", "10:30", 30, "15.00", provider="P2", service_user="SU7"),
    ]
    result = reconcile(contract, plans, actuals, lines)
    assert [r.outcome for r in result.lines] == [
        Outcome.APPROVED,
        Outcome.ADJUSTED,
        Outcome.REJECTED,
    ]
    assert [r.uncommissioned for r in result.lines] == [False, False, True]
    assert result.unbilled == [2]
    summary = summarize(result, contract, actuals)
    overall = summary.overall
    # claimed 12.06 + 16.00 + 15.00 = 43.06; payable 12.06 + 15.00 = 27.06; block: P3 has one
    # hour a week at 20.00 for the one week of the period.
    assert (overall.lines, overall.claimed, overall.payable) == (
        3,
        Decimal("43.06"),
        Decimal("27.06"),
    )
    assert (overall.variance, overall.block, overall.due) == (
        Decimal("16.00"),
        Decimal("20.00"),
        Decimal("47.06"),
    )
    assert overall.unbilled_visits == 1 and overall.uncommissioned_lines == 1
    assert list(summary.providers) == ["P1", "P2", "P3"]
    p2 = summary.providers["P2"]
    assert (p2.lines, p2.outcomes[Outcome.ADJUSTED], p2.outcomes[Outcome.REJECTED]) == (2, 1, 1)
    assert list(summary.lots) == [NO_LOT, "North"]
    assert summary.lots[NO_LOT].block == Decimal("20.00")
    assert summary.lots["North"].payable == Decimal("12.06")


def test_visits_claimed_in_a_paid_run_are_not_unbilled() -> None:
    contract = Contract(Rules(), {"P1": ProviderTerms("P1", ContractKind.FRAMEWORK, Decimal(24))})
    visits = [actual("2026-03-02 07:30", "2026-03-02 08:00")]
    claimed = frozenset({ActualKey("P1", "SU1", "C1", at("2026-03-02 07:30"))})
    period_line = [line("2026-03-02", "12:00", "12:30", 30, "12.00")]
    assert reconcile(contract, [], visits, period_line).unbilled == [0]
    assert reconcile(contract, [], visits, period_line, already_claimed=claimed).unbilled == []
