"""Properties over generated worlds (hypothesis): payable never exceeds claimed; the order of
lines across files changes no outcome except which of two claims is the duplicate; re-running
gives the same bytes."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation import (
    ActualVisit,
    Contract,
    ContractKind,
    InvoiceLine,
    Outcome,
    PlannedVisit,
    ProviderTerms,
    Reason,
    Rounding,
    Rules,
    UnverifiedPolicy,
    Verification,
    reconcile,
)
from reconciliation.formats import write_report
from reconciliation.pricing import day_uplift
from tests.reconciliation.support import row

DAYS = [date(2026, 3, 6), date(2026, 3, 7)]  # a Friday and a Saturday, both GMT
SERVICE_USERS = ["SU1", "SU2"]
RATE = Decimal("24.12")


def _moment(day: date, minute: int) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC) + timedelta(minutes=minute)


@st.composite
def worlds(
    draw: st.DrawFn,
) -> tuple[Contract, list[PlannedVisit], list[ActualVisit], list[InvoiceLine]]:
    unit = draw(st.sampled_from([1, 5, 15]))
    rules = Rules(
        billing_unit_minutes=unit,
        rounding=draw(st.sampled_from(list(Rounding)))
        if unit == 15
        else draw(st.sampled_from([Rounding.NEAREST, Rounding.UP, Rounding.DOWN])),
        tolerance_minutes=draw(st.integers(0, 10)),
        cap_at_planned=draw(st.booleans()),
        minimum_minutes=draw(st.sampled_from([0, 15, 30])),
        match_window_minutes=draw(st.sampled_from([15, 60])),
        unverified=draw(st.sampled_from(list(UnverifiedPolicy))),
        weekend_uplift=draw(st.sampled_from([Decimal(1), Decimal("1.5")])),
    )
    contract = Contract(rules, {"P1": ProviderTerms("P1", ContractKind.FRAMEWORK, RATE)})
    planned = [
        PlannedVisit(
            f"V{n}",
            draw(st.sampled_from(SERVICE_USERS)),
            "P1",
            _moment(draw(st.sampled_from(DAYS)), draw(st.integers(360, 1200))),
            draw(st.sampled_from([15, 30, 45, 60])),
            draw(st.integers(1, 2)),
            "personal_care",
        )
        for n in range(draw(st.integers(0, 6)))
    ]
    actuals = []
    for _ in range(draw(st.integers(0, 10))):
        check_in = _moment(draw(st.sampled_from(DAYS)), draw(st.integers(360, 1200)))
        actuals.append(
            ActualVisit(
                draw(st.sampled_from(SERVICE_USERS)),
                "P1",
                draw(st.sampled_from(["C1", "C2", "C3"])),
                check_in,
                check_in + timedelta(seconds=draw(st.integers(0, 90 * 60))),
                draw(st.sampled_from(list(Verification))),
            )
        )
    lines = []
    for number in range(draw(st.integers(1, 10))):
        start = draw(st.integers(360, 1200))
        length = draw(st.integers(1, 120))
        lines.append(
            InvoiceLine(
                draw(st.sampled_from(["A", "B"])),
                number + 1,
                "P1",
                draw(st.sampled_from(SERVICE_USERS)),
                draw(st.sampled_from(DAYS)),
                time(start // 60, start % 60),
                time((start + length) // 60, (start + length) % 60),
                draw(st.integers(0, 150)),
                draw(st.integers(1, 2)),
                Decimal(draw(st.integers(0, 10_000))) / 100,
            )
        )
    return contract, planned, actuals, lines


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(worlds())
def test_payable_never_exceeds_claimed(
    world: tuple[Contract, list[PlannedVisit], list[ActualVisit], list[InvoiceLine]],
) -> None:
    contract, planned, actuals, lines = world
    for result in reconcile(contract, planned, actuals, lines).lines:
        line = result.line
        assert 0 <= result.payable_minutes <= line.minutes_claimed
        # The claimed minutes and carers at the contract price bound what a line can pay.
        ceiling = (
            Decimal(line.minutes_claimed * line.carers)
            * RATE
            * day_uplift(line.visit_date, contract.rules)
            / 60
        ).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert Decimal(0) <= result.payable_amount <= ceiling
        if result.outcome in (Outcome.HELD, Outcome.REJECTED):
            assert (result.payable_minutes, result.payable_amount) == (0, Decimal(0))
        if result.outcome is Outcome.APPROVED:
            assert result.payable_amount == line.amount_claimed


def _candidates(line: InvoiceLine, actuals: list[ActualVisit]) -> set[int]:
    """Step 1 written independently of the engine (all times here are GMT, so UTC)."""
    start = datetime.combine(line.visit_date, line.start, tzinfo=UTC)
    end = datetime.combine(line.visit_date, line.end, tzinfo=UTC)
    return {
        i
        for i, a in enumerate(actuals)
        if a.service_user_ref == line.service_user_ref
        and a.check_in.date() == line.visit_date
        and a.check_in < end
        and a.check_out > start
    }


@SETTINGS
@given(worlds(), st.integers(0, 2**32))
def test_line_order_changes_only_which_claim_is_the_duplicate(
    world: tuple[Contract, list[PlannedVisit], list[ActualVisit], list[InvoiceLine]],
    seed: int,
) -> None:
    contract, planned, actuals, lines = world
    shuffled = list(lines)
    random.Random(seed).shuffle(shuffled)
    before = {
        (r.line.invoice_ref, r.line.line_no): r
        for r in reconcile(contract, planned, actuals, lines).lines
    }
    after = {
        (r.line.invoice_ref, r.line.line_no): r
        for r in reconcile(contract, planned, actuals, shuffled).lines
    }
    candidates = {(line.invoice_ref, line.line_no): _candidates(line, actuals) for line in lines}
    for key, found in candidates.items():
        shared = any(found & other for k, other in candidates.items() if k != key)
        if not shared:  # no other line competes for its visits: the same answer in any order
            assert row(before[key]) == row(after[key])
        else:
            # A line that is no duplicate in either order used all its candidates both times.
            duplicate = Reason.DUPLICATE_CLAIM in (before[key].reason, after[key].reason)
            assert duplicate or row(before[key]) == row(after[key])
    # However the lines come, no visit is paid twice.
    for results in (before, after):
        used = [i for r in results.values() for i in r.used_actuals]
        assert len(used) == len(set(used))


@SETTINGS
@given(worlds())
def test_rerunning_gives_the_same_bytes(
    tmp_path_factory: pytest.TempPathFactory,
    world: tuple[Contract, list[PlannedVisit], list[ActualVisit], list[InvoiceLine]],
) -> None:
    contract, planned, actuals, lines = world
    folder = tmp_path_factory.mktemp("rerun")
    first, second = folder / "first.csv", folder / "second.csv"
    write_report(first, reconcile(contract, planned, actuals, lines).lines)
    write_report(second, reconcile(contract, planned, list(actuals), list(lines)).lines)
    assert first.read_bytes() == second.read_bytes()
