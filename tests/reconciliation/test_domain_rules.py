"""The payment rules in use that the domain brief lists, as cases of the engine."""

from __future__ import annotations

from decimal import Decimal

from tests.reconciliation.support import actual, contract, line, one, planned, row, run
from tests.reconciliation.test_options import delivered


def test_seven_eight_minute_rule() -> None:
    # 7 minutes past the quarter rounds down, 8 rounds up: 52 -> 45, 53 -> 60.
    assert delivered(52, rounding="seven_eight") == 45
    assert delivered(53, rounding="seven_eight") == 60


def test_143_minutes_bill_9_units_and_carry_8() -> None:
    # One visit of 143 minutes, roll-over on: 143 = 9 * 15 + 8, so 135 billable.
    result = one(
        [],
        [actual("2026-03-02 07:00", "2026-03-02 09:23")],
        line("2026-03-02", "07:00", "09:23", 143, "57.49"),
        contract(rollover=True),
    )
    # 135/60 * 24.12 = 54.27
    assert row(result) == ("adjusted", "UNPLANNED", 135, "54.27", "")


def test_pay_the_planned_time_within_tolerance_and_cap_at_it() -> None:
    plans = [planned("2026-03-02 07:30", 45)]
    claim = line("2026-03-02", "07:30", "08:15", 45, "18.09")  # 45/60 * 24.12
    within = one(plans, [actual("2026-03-02 07:30", "2026-03-02 08:11")], claim)  # 41 >= 40
    assert row(within) == ("approved", "", 45, "18.09", "V1")
    over = one(plans, [actual("2026-03-02 07:30", "2026-03-02 08:40")], claim)  # 70 -> 45
    assert row(over) == ("approved", "", 45, "18.09", "V1")


def test_double_handed_visits_pay_two_carers() -> None:
    # 30/60 * 24.12 * 2 = 24.12
    result = one(
        [planned("2026-03-02 07:30", 30, carers=2)],
        [
            actual("2026-03-02 07:30", "2026-03-02 08:00", carer="C1"),
            actual("2026-03-02 07:30", "2026-03-02 08:00", carer="C2"),
        ],
        line("2026-03-02", "07:30", "08:00", 30, "24.12", carers=2),
    )
    assert row(result) == ("approved", "", 30, "24.12", "V1")


def test_weekend_and_bank_holiday_rates() -> None:
    # Sunday 1 March 2026 at 1.25: 30/60 * 24.12 * 1.25 = 15.075 -> 15.08 (half up).
    # Spring bank holiday Monday 25 May 2026 at 1.5 (BST): 30/60 * 24.12 * 1.5 = 18.09.
    rules = contract(weekend_uplift=Decimal("1.25"), bank_holiday_uplift=Decimal("1.5"))
    sunday = one(
        [planned("2026-03-01 07:30", 30)],
        [actual("2026-03-01 07:30", "2026-03-01 08:00")],
        line("2026-03-01", "07:30", "08:00", 30, "15.08"),
        rules,
    )
    holiday = one(
        [planned("2026-05-25 07:30+01:00", 30)],
        [actual("2026-05-25 07:30+01:00", "2026-05-25 08:00+01:00")],
        line("2026-05-25", "07:30", "08:00", 30, "18.09"),
        rules,
    )
    assert row(sunday) == ("approved", "", 30, "15.08", "V1")
    assert row(holiday) == ("approved", "", 30, "18.09", "V1")


def test_claims_with_no_verified_visit_are_rejected_or_held() -> None:
    claim = line("2026-03-02", "07:30", "08:00", 30, "12.06")
    assert row(one([planned("2026-03-02 07:30", 30)], [], claim))[:2] == ("rejected", "NO_VISIT")
    manual = [actual("2026-03-02 07:30", "2026-03-02 08:00", verification="manual")]
    held = one([planned("2026-03-02 07:30", 30)], manual, claim)
    assert row(held) == ("held", "UNVERIFIED", 0, "0.00", "V1")
    refused = one([planned("2026-03-02 07:30", 30)], manual, claim, contract(unverified="reject"))
    assert row(refused)[:2] == ("rejected", "UNVERIFIED")


def test_units_over_the_verified_units_are_cut_back() -> None:
    # Claimed 60, verified 30 (plan 30): 30 payable, 12.06.
    result = one(
        [planned("2026-03-02 07:30", 30)],
        [actual("2026-03-02 07:30", "2026-03-02 08:00")],
        line("2026-03-02", "07:30", "08:30", 60, "24.12"),
    )
    assert row(result) == ("adjusted", "OVER_CLAIM_MINUTES", 30, "12.06", "V1")


def test_billed_time_outside_the_visit_is_not_paid() -> None:
    # Claimed 07:00-08:00 but the carer was there 07:30-08:00: 30 of 60 payable.
    result = one(
        [],
        [actual("2026-03-02 07:30", "2026-03-02 08:00")],
        line("2026-03-02", "07:00", "08:00", 60, "24.12"),
    )
    assert result.payable_minutes == 30


def test_duplicate_claims_across_invoices() -> None:
    visit = [actual("2026-03-02 07:30", "2026-03-02 08:00")]
    plans = [planned("2026-03-02 07:30", 30)]
    first = line("2026-03-02", "07:30", "08:00", 30, "12.06", invoice="MARCH")
    again = line("2026-03-02", "07:30", "08:00", 30, "12.06", invoice="MARCH-RESENT")
    assert [row(r)[:2] for r in run(plans, visit, [first, again])] == [
        ("approved", ""),
        ("rejected", "DUPLICATE_CLAIM"),
    ]
