"""Every rule option and the contract extras (bank holidays, block contracts, roll-over), each
with its arithmetic."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from reconciliation import (
    Contract,
    ContractError,
    ContractKind,
    Period,
    ProviderTerms,
    Rounding,
    Rules,
    reconcile,
)
from reconciliation.block import BlockWeek
from reconciliation.pricing import round_to_unit
from tests.reconciliation.support import actual, contract, line, one, planned, row, run


def delivered(minutes: int, **rules: Any) -> int:
    """Payable minutes of an unplanned visit of `minutes`, claimed generously (120)."""
    end = f"{7 + (30 + minutes) // 60:02d}:{(30 + minutes) % 60:02d}"
    result = one(
        [],
        [actual("2026-03-02 07:30", f"2026-03-02 {end}")],
        line("2026-03-02", "07:30", "09:30", 120, "48.24"),
        contract(**rules),
    )
    return result.payable_minutes


@pytest.mark.parametrize(
    ("rounding", "unit", "minutes", "expected"),
    [
        ("nearest", 15, 22, 15),  # remainder 7 < 7.5: down
        ("nearest", 15, 23, 30),  # remainder 8: up
        ("nearest", 5, 12, 10),  # remainder 2 < 2.5
        ("nearest", 5, 13, 15),  # remainder 3
        ("nearest", 1, 13, 13),  # per-minute: as delivered
        ("up", 15, 16, 30),
        ("up", 15, 30, 30),  # a whole number of units stays
        ("down", 15, 29, 15),
        ("down", 5, 9, 5),
        ("seven_eight", 15, 37, 30),  # 30 + 7: down
        ("seven_eight", 15, 38, 45),  # 30 + 8: up
    ],
)
def test_rounding(rounding: str, unit: int, minutes: int, expected: int) -> None:
    assert delivered(minutes, rounding=rounding, billing_unit_minutes=unit) == expected


def test_nearest_rounds_halves_up() -> None:
    # No integer remainder is exactly half of 1, 5 or 15, so the rule is shown on the function:
    # 7.5 cannot arise; with a 2-minute unit (not a contract option) 1 is half and goes up.
    assert round_to_unit(3, 2, Rounding.NEAREST) == 4


def test_minimum_minutes_apply_only_to_a_visit_that_happened() -> None:
    # 10 minutes -> nearest 15 -> minimum 30.
    assert delivered(10, minimum_minutes=30) == 30
    # Carers who never met: 0 minutes, so no minimum.
    result = one(
        [],
        [
            actual("2026-03-02 08:00", "2026-03-02 08:20", carer="C1"),
            actual("2026-03-02 08:30", "2026-03-02 08:50", carer="C2"),
        ],
        line("2026-03-02", "08:00", "09:00", 60, "48.24", carers=2),
        contract(minimum_minutes=30),
    )
    assert result.payable_minutes == 0


def test_bank_holiday_uplift() -> None:
    # Good Friday 3 April 2026, uplift 2: 30/60 * 24.12 * 2 = 24.12. Saturday 4 April takes the
    # weekend uplift 1.5: 18.09. The Thursday before: 12.06. (Times in BST, +01:00.)
    rules = contract(bank_holiday_uplift=Decimal(2), weekend_uplift=Decimal("1.5"))
    for day, amount in (("2026-04-03", "24.12"), ("2026-04-04", "18.09"), ("2026-04-02", "12.06")):
        result = one(
            [planned(f"{day} 07:30+01:00", 30)],
            [actual(f"{day} 07:30+01:00", f"{day} 08:00+01:00")],
            line(day, "07:30", "08:00", 30, amount),
            rules,
        )
        assert row(result) == ("approved", "", 30, amount, "V1"), day


def test_roll_over_bills_complete_units_and_carries_the_rest() -> None:
    # 50 + 50 + 43 = 143 minutes in one invoice: 9 units of 15 (135) and 8 carried.
    # 50 -> 45 carry 5; 5 + 50 = 55 -> 45 carry 10; 10 + 43 = 53 -> 45 carry 8.
    # 45/60 * 24.12 = 18.09 each.
    visits = [
        actual("2026-03-02 07:00", "2026-03-02 07:50"),
        actual("2026-03-03 07:00", "2026-03-03 07:50"),
        actual("2026-03-04 07:00", "2026-03-04 07:43"),
    ]
    lines = [
        line("2026-03-02", "07:00", "07:50", 45, "18.09", line_no=1),
        line("2026-03-03", "07:00", "07:50", 45, "18.09", line_no=2),
        line("2026-03-04", "07:00", "07:43", 45, "18.09", line_no=3),
    ]
    rolled = contract(rollover=True)
    results = run([], visits, lines, rolled)
    assert [r.payable_minutes for r in results] == [45, 45, 45]
    assert sum(r.payable_minutes for r in results) == 135
    assert [f"{r.payable_amount}" for r in results] == ["18.09"] * 3
    # Carry follows visit order, not file order: reversed input, same answer per line.
    backwards = run([], visits, lines[::-1], rolled)
    assert {r.line.line_no: r.payable_minutes for r in backwards} == {1: 45, 2: 45, 3: 45}
    # The carry stays within an invoice: the 43 minutes alone on another invoice bill 30.
    split = [lines[0], lines[1], line("2026-03-04", "07:00", "07:43", 45, "18.09", invoice="B")]
    assert [r.payable_minutes for r in run([], visits, split, rolled)] == [45, 45, 30]


def block_contract(period: Period) -> Contract:
    # 10 hours a week at 20.00 (the block pays 200.00 a week); beyond it, 25.00 an hour.
    terms = ProviderTerms(
        "P1",
        ContractKind.BLOCK,
        Decimal("20.00"),
        block_hours_per_week=Decimal(10),
        spot_rate_per_hour=Decimal("25.00"),
    )
    return Contract(Rules(), {"P1": terms}, period)


def test_block_contract_pays_the_block_and_extra_hours_at_the_spot_rate() -> None:
    # Monday 240 min, Tuesday 300, Wednesday 120: 660 carer-minutes against a 600-minute block.
    # Mon and Tue are inside the block (0.00 on the line); Wednesday has 60 inside and 60
    # beyond: 60/60 * 25.00 = 25.00.
    days = [
        ("2026-03-02", 240, "11:00"),
        ("2026-03-03", 300, "12:00"),
        ("2026-03-04", 120, "09:00"),
    ]
    plans = [planned(f"{d} 07:00", m, ref=d) for d, m, _ in days]
    visits = [actual(f"{d} 07:00", f"{d} {end}") for d, _, end in days]
    amounts = ["0.00", "0.00", "25.00"]
    lines = [
        line(d, "07:00", end, m, amount, line_no=n)
        for n, ((d, m, end), amount) in enumerate(zip(days, amounts, strict=True), start=1)
    ]
    week = Period(date(2026, 3, 2), date(2026, 3, 8))
    result = reconcile(block_contract(week), plans, visits, lines)
    assert [row(r) for r in result.lines] == [
        ("approved", "", 240, "0.00", "2026-03-02"),
        ("approved", "", 300, "0.00", "2026-03-03"),
        ("approved", "", 120, "25.00", "2026-03-04"),
    ]
    assert result.blocks == {"P1": [BlockWeek(date(2026, 3, 2), 7, 600, 600, Decimal("200.00"))]}
    # The draw-down is chronological: the same lines in reverse give the same amounts.
    backwards = reconcile(block_contract(week), plans, visits, lines[::-1])
    assert [f"{r.payable_amount}" for r in backwards.lines] == ["25.00", "0.00", "0.00"]


def test_block_weeks_are_pro_rata_to_the_period() -> None:
    # Sunday 1 March to Sunday 8 March 2026: one day of the week of 23 February
    # (600 * 1/7 = 85.7 -> 85 carer-minutes, 85/60 * 20.00 = 28.33) and the full next week.
    result = reconcile(block_contract(Period(date(2026, 3, 1), date(2026, 3, 8))), [], [], [])
    assert result.blocks["P1"] == [
        BlockWeek(date(2026, 2, 23), 1, 85, 0, Decimal("28.33")),
        BlockWeek(date(2026, 3, 2), 7, 600, 0, Decimal("200.00")),
    ]


@pytest.mark.parametrize(
    "rules",
    [
        {"billing_unit_minutes": 10},
        {"rounding": "seven_eight", "billing_unit_minutes": 5},
        {"rounding": "sideways"},
        {"unverified": "maybe"},
        {"tolerance_minutes": -1},
        {"weekend_uplift": 0},
    ],
)
def test_unusable_rules_are_refused(rules: dict[str, object]) -> None:
    with pytest.raises(ContractError):
        Rules(**rules)  # type: ignore[arg-type]


def test_block_terms_need_hours_and_only_blocks_have_them() -> None:
    with pytest.raises(ContractError):
        ProviderTerms("P1", ContractKind.BLOCK, Decimal(20))
    with pytest.raises(ContractError):
        ProviderTerms("P1", ContractKind.SPOT, Decimal(20), block_hours_per_week=Decimal(5))


def test_lines_of_a_provider_without_terms_are_refused() -> None:
    with pytest.raises(ContractError, match="P9"):
        run([], [], [line("2026-03-02", "07:00", "07:30", 30, "12.06", provider="P9")])


def test_hours_beyond_the_block_take_the_days_uplift() -> None:
    # Block 10 h/week used up on Monday (600 min); Saturday 60 min beyond it at 25.00 * 1.5:
    # 60/60 * 25.00 * 1.5 = 37.50.
    terms = ProviderTerms(
        "P1",
        ContractKind.BLOCK,
        Decimal("20.00"),
        block_hours_per_week=Decimal(10),
        spot_rate_per_hour=Decimal("25.00"),
    )
    contract_ = Contract(
        Rules(weekend_uplift=Decimal("1.5")),
        {"P1": terms},
        Period(date(2026, 3, 2), date(2026, 3, 8)),
    )
    plans = [planned("2026-03-02 07:00", 600, "MON"), planned("2026-03-07 07:00", 60, "SAT")]
    visits = [
        actual("2026-03-02 07:00", "2026-03-02 17:00"),
        actual("2026-03-07 07:00", "2026-03-07 08:00"),
    ]
    lines = [
        line("2026-03-02", "07:00", "17:00", 600, "0.00", line_no=1),
        line("2026-03-07", "07:00", "08:00", 60, "37.50", line_no=2),
    ]
    result = reconcile(contract_, plans, visits, lines)
    assert [row(r) for r in result.lines] == [
        ("approved", "", 600, "0.00", "MON"),
        ("approved", "", 60, "37.50", "SAT"),
    ]
