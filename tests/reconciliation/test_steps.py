"""The published semantics step by step (docs/reconciliation.md), each with worked arithmetic.

Defaults unless a test says otherwise: 15-minute units rounded to nearest, tolerance 5, cap on,
window 60, unverified held, rate 24.12/hour. 30 minutes at 24.12/hour = 12.06.
"""

from __future__ import annotations

from reconciliation import ActualKey, Outcome, Reason
from tests.reconciliation.support import actual, at, contract, line, one, planned, row, run


def test_a_claim_matching_a_verified_planned_visit_is_approved() -> None:
    # actual 07:32-08:01 = 29 min; 29 >= 30 - 5 so billable 30; 30 is whole units; 30 <= 30
    # claimed; 30/60 * 24.12 = 12.06 = claimed.
    result = one(
        [planned("2026-03-02 07:30", 30)],
        [actual("2026-03-02 07:32", "2026-03-02 08:01")],
        line("2026-03-02", "07:30", "08:00", 30, "12.06"),
    )
    assert row(result) == ("approved", "", 30, "12.06", "V1")
    assert result.actual_minutes == 29 and result.carers_verified == 1


# Step 1 -----------------------------------------------------------------------------------------


def test_no_actual_visit_is_rejected_no_visit() -> None:
    result = one(
        [planned("2026-03-02 07:30", 30)], [], line("2026-03-02", "07:30", "08:00", 30, "12.06")
    )
    assert row(result) == ("rejected", "NO_VISIT", 0, "0.00", "")


def test_a_visit_that_does_not_overlap_the_claim_is_no_visit() -> None:
    # visit 09:00-09:30 against a claim of 07:30-08:00
    result = one(
        [planned("2026-03-02 07:30", 30)],
        [actual("2026-03-02 09:00", "2026-03-02 09:30")],
        line("2026-03-02", "07:30", "08:00", 30, "12.06"),
    )
    assert result.reason is Reason.NO_VISIT


def test_touching_is_not_overlapping() -> None:
    # check_out 07:30 == start 07:30: overlap needs check_out > start
    result = one(
        [],
        [actual("2026-03-02 07:00", "2026-03-02 07:30")],
        line("2026-03-02", "07:30", "08:00", 30, "12.06"),
    )
    assert result.reason is Reason.NO_VISIT


def test_another_service_user_or_provider_is_no_visit() -> None:
    claim = line("2026-03-02", "07:30", "08:00", 30, "12.06")
    for other in (
        actual("2026-03-02 07:30", "2026-03-02 08:00", service_user="SU2"),
        actual("2026-03-02 07:30", "2026-03-02 08:00", provider="P2"),
    ):
        assert one([], [other], claim).reason is Reason.NO_VISIT


def test_candidates_are_on_the_london_date_of_check_in() -> None:
    # 2026-06-30 23:30 UTC is 00:30 BST on 1 July: it belongs to a claim dated 1 July.
    visit = actual("2026-06-30 23:30", "2026-07-01 00:00")
    plan = planned("2026-06-30 23:30", 30)
    on_first = one([plan], [visit], line("2026-07-01", "00:30", "01:00", 30, "12.06"))
    assert row(on_first) == ("approved", "", 30, "12.06", "V1")
    on_thirtieth = one([plan], [visit], line("2026-06-30", "23:00", "23:59", 30, "12.06"))
    assert on_thirtieth.reason is Reason.NO_VISIT


def test_spring_clock_change_night_counts_real_minutes() -> None:
    # 29 March 2026: 00:30 GMT to 03:30 BST is 00:30Z to 02:30Z, two real hours.
    # 120/60 * 24.12 = 48.24.
    result = one(
        [planned("2026-03-29 00:30", 120)],
        [actual("2026-03-29 00:30", "2026-03-29 02:30")],
        line("2026-03-29", "00:30", "03:30", 120, "48.24"),
    )
    assert row(result) == ("approved", "", 120, "48.24", "V1")
    assert result.actual_minutes == 120


def test_autumn_clock_change_night_counts_real_minutes() -> None:
    # 25 October 2026: 00:30 BST (23:30Z on the 24th) to 03:30 GMT (03:30Z) is four real hours;
    # the check-in at 23:30Z on the 24th is on the London date of the 25th.
    # 240/60 * 24.12 = 96.48.
    result = one(
        [planned("2026-10-24 23:30", 240)],
        [actual("2026-10-24 23:30", "2026-10-25 03:30")],
        line("2026-10-25", "00:30", "03:30", 240, "96.48"),
    )
    assert row(result) == ("approved", "", 240, "96.48", "V1")


# Step 2 -----------------------------------------------------------------------------------------


def test_the_second_claim_on_a_visit_is_a_duplicate() -> None:
    plans = [planned("2026-03-02 07:30", 30)]
    visits = [actual("2026-03-02 07:30", "2026-03-02 08:00")]
    first = line("2026-03-02", "07:30", "08:00", 30, "12.06", line_no=1)
    again = line("2026-03-02", "07:45", "08:15", 30, "12.06", line_no=2)
    results = run(plans, visits, [first, again])
    assert [row(r) for r in results] == [
        ("approved", "", 30, "12.06", "V1"),
        ("rejected", "DUPLICATE_CLAIM", 0, "0.00", ""),
    ]


def test_a_claim_spanning_a_used_and_an_unused_visit_is_a_duplicate() -> None:
    # The wide line takes both visits' rows as candidates; one is already used.
    plans = [planned("2026-03-02 07:30", 30), planned("2026-03-02 12:00", 30, ref="V2")]
    visits = [
        actual("2026-03-02 07:30", "2026-03-02 08:00"),
        actual("2026-03-02 12:00", "2026-03-02 12:30"),
    ]
    first = line("2026-03-02", "07:30", "08:00", 30, "12.06", line_no=1)
    wide = line("2026-03-02", "07:00", "13:00", 360, "144.72", line_no=2)
    assert run(plans, visits, [first, wide])[1].reason is Reason.DUPLICATE_CLAIM


def test_a_visit_claimed_in_an_earlier_paid_run_is_a_duplicate() -> None:
    visit = actual("2026-03-02 07:30", "2026-03-02 08:00")
    paid = frozenset({ActualKey("P1", "SU1", "C1", at("2026-03-02 07:30"))})
    results = run(
        [planned("2026-03-02 07:30", 30)],
        [visit],
        [line("2026-03-02", "07:30", "08:00", 30, "12.06")],
        already_claimed=paid,
    )
    assert row(results[0]) == ("rejected", "DUPLICATE_CLAIM", 0, "0.00", "")


# Step 3 -----------------------------------------------------------------------------------------


def test_unverified_visits_are_held_by_default_with_their_planned_visit() -> None:
    result = one(
        [planned("2026-03-02 07:30", 30)],
        [actual("2026-03-02 07:30", "2026-03-02 08:00", verification="manual")],
        line("2026-03-02", "07:30", "08:00", 30, "12.06"),
    )
    assert row(result) == ("held", "UNVERIFIED", 0, "0.00", "V1")


def test_unverified_reject_and_pay() -> None:
    plans = [planned("2026-03-02 07:30", 30)]
    visits = [actual("2026-03-02 07:30", "2026-03-02 08:00", verification="none")]
    claim = line("2026-03-02", "07:30", "08:00", 30, "12.06")
    rejected = one(plans, visits, claim, contract(unverified="reject"))
    assert row(rejected) == ("rejected", "UNVERIFIED", 0, "0.00", "")
    paid = one(plans, visits, claim, contract(unverified="pay"))
    assert row(paid) == ("approved", "", 30, "12.06", "V1")


def test_one_verified_carer_makes_the_visit_verified() -> None:
    # Double-handed, one tag and one manual: not every candidate is unverified.
    # Both 08:00-09:00: 60 min, 2 carers: 60/60 * 24.12 * 2 = 48.24.
    result = one(
        [planned("2026-03-02 08:00", 60, carers=2)],
        [
            actual("2026-03-02 08:00", "2026-03-02 09:00", carer="C1", verification="tag"),
            actual("2026-03-02 08:00", "2026-03-02 09:00", carer="C2", verification="manual"),
        ],
        line("2026-03-02", "08:00", "09:00", 60, "48.24", carers=2),
    )
    assert row(result) == ("approved", "", 60, "48.24", "V1")


# Step 4 -----------------------------------------------------------------------------------------


def test_double_handed_pays_the_minutes_both_carers_were_there() -> None:
    # C1 08:00-09:02, C2 08:05-09:00: together 08:05-09:00 = 55 min; 55 >= 60 - 5 so 60;
    # 60/60 * 24.12 * 2 carers = 48.24.
    result = one(
        [planned("2026-03-02 08:00", 60, carers=2)],
        [
            actual("2026-03-02 08:00", "2026-03-02 09:02", carer="C1"),
            actual("2026-03-02 08:05", "2026-03-02 09:00", carer="C2", verification="code"),
        ],
        line("2026-03-02", "08:00", "09:00", 60, "48.24", carers=2),
    )
    assert row(result) == ("approved", "", 60, "48.24", "V1")
    assert result.actual_minutes == 55 and result.carers_verified == 2


def test_carers_who_never_met_give_zero_minutes() -> None:
    # C1 08:00-08:20 and C2 08:30-08:50 do not meet: 0 minutes, nothing payable.
    result = one(
        [planned("2026-03-02 08:00", 60, carers=2)],
        [
            actual("2026-03-02 08:00", "2026-03-02 08:20", carer="C1"),
            actual("2026-03-02 08:30", "2026-03-02 08:50", carer="C2"),
        ],
        line("2026-03-02", "08:00", "09:00", 60, "48.24", carers=2),
    )
    assert row(result) == ("adjusted", "OVER_CLAIM_MINUTES", 0, "0.00", "V1")


def test_one_carers_rows_make_one_span() -> None:
    # Phone died: 08:00-08:20 then 08:21-08:58 is one span 08:00-08:58 = 58 min -> 60 (tolerance).
    result = one(
        [planned("2026-03-02 08:00", 60)],
        [
            actual("2026-03-02 08:00", "2026-03-02 08:20"),
            actual("2026-03-02 08:21", "2026-03-02 08:58"),
        ],
        line("2026-03-02", "08:00", "09:00", 60, "24.12"),
    )
    assert row(result) == ("approved", "", 60, "24.12", "V1")
    assert result.carers_verified == 1 and result.actual_minutes == 58


def test_partial_minutes_are_dropped() -> None:
    # 07:30:00 to 07:44:59 is 14 min 59 s: 14 whole minutes; per-minute units, no plan: 14.
    # 14/60 * 24.12 = 5.628 -> 5.63.
    result = one(
        [],
        [actual("2026-03-02 07:30:00", "2026-03-02 07:44:59")],
        line("2026-03-02", "07:30", "07:45", 15, "6.03"),
        contract(billing_unit_minutes=1),
    )
    assert row(result) == ("adjusted", "UNPLANNED", 14, "5.63", "")


# Step 5 -----------------------------------------------------------------------------------------


def test_the_nearest_planned_visit_matches() -> None:
    # check-in 07:31: 08:00 is 29 min away, 07:00 is 31.
    plans = [
        planned("2026-03-02 07:00", 30, ref="EARLY"),
        planned("2026-03-02 08:00", 30, ref="LATE"),
    ]
    result = one(
        plans,
        [actual("2026-03-02 07:31", "2026-03-02 08:01")],
        line("2026-03-02", "07:30", "08:00", 30, "12.06"),
    )
    assert result.matched_visit == "LATE"


def test_a_tie_goes_to_the_earlier_planned_start() -> None:
    # check-in 07:30: 07:00 and 08:00 are both 30 min away.
    plans = [
        planned("2026-03-02 08:00", 30, ref="LATE"),
        planned("2026-03-02 07:00", 30, ref="EARLY"),
    ]
    result = one(
        plans,
        [actual("2026-03-02 07:30", "2026-03-02 08:00")],
        line("2026-03-02", "07:30", "08:00", 30, "12.06"),
    )
    assert result.matched_visit == "EARLY"


def test_the_window_is_inclusive_and_outside_it_the_line_is_unplanned() -> None:
    visit = [actual("2026-03-02 08:30", "2026-03-02 09:00")]
    claim = line("2026-03-02", "08:30", "09:00", 30, "12.06")
    assert one([planned("2026-03-02 07:30", 30)], visit, claim).matched_visit == "V1"  # 60 min
    late = one([planned("2026-03-02 07:29", 30)], visit, claim)  # 61 min
    assert row(late) == ("adjusted", "UNPLANNED", 30, "12.06", "")
    narrow = one([planned("2026-03-02 08:00", 30)], visit, claim, contract(match_window_minutes=15))
    assert narrow.reason is Reason.UNPLANNED


def test_tolerance_pays_the_plan_only_within_it() -> None:
    # per-minute units so rounding does not hide the tolerance. plan 30, tolerance 5:
    # 25 minutes -> 30 (12.06); 24 minutes -> 24 (24/60 * 24.12 = 9.648 -> 9.65).
    per_minute = contract(billing_unit_minutes=1)
    plans = [planned("2026-03-02 07:30", 30)]
    claim = line("2026-03-02", "07:30", "08:00", 30, "12.06")
    within = one(plans, [actual("2026-03-02 07:30", "2026-03-02 07:55")], claim, per_minute)
    assert row(within) == ("approved", "", 30, "12.06", "V1")
    short = one(plans, [actual("2026-03-02 07:30", "2026-03-02 07:54")], claim, per_minute)
    assert row(short) == ("adjusted", "OVER_CLAIM_MINUTES", 24, "9.65", "V1")


def test_the_cap_stops_at_the_plan_unless_turned_off() -> None:
    # 45 minutes delivered against a 30-minute plan, claimed 45 (18.09 = 45/60 * 24.12).
    plans = [planned("2026-03-02 07:30", 30)]
    visits = [actual("2026-03-02 07:30", "2026-03-02 08:15")]
    claim = line("2026-03-02", "07:30", "08:15", 45, "18.09")
    assert row(one(plans, visits, claim)) == ("adjusted", "OVER_CLAIM_MINUTES", 30, "12.06", "V1")
    uncapped = one(plans, visits, claim, contract(cap_at_planned=False))
    assert row(uncapped) == ("approved", "", 45, "18.09", "V1")


def test_without_a_plan_the_actual_minutes_are_billable() -> None:
    # 40 minutes, no plan: nearest 15 -> 45 (remainder 10 >= 7.5); claimed 40 so 40 payable.
    # 40/60 * 24.12 = 16.08.
    result = one(
        [],
        [actual("2026-03-02 07:30", "2026-03-02 08:10")],
        line("2026-03-02", "07:30", "08:10", 40, "16.08"),
    )
    assert row(result) == ("adjusted", "UNPLANNED", 40, "16.08", "")


# Step 7-9 ---------------------------------------------------------------------------------------


def test_payable_never_exceeds_the_claimed_minutes() -> None:
    # Delivered 30, claimed 15: payable 15 = 6.03 (15/60 * 24.12).
    result = one(
        [planned("2026-03-02 07:30", 30)],
        [actual("2026-03-02 07:30", "2026-03-02 08:00")],
        line("2026-03-02", "07:30", "07:45", 15, "6.03"),
    )
    assert row(result) == ("approved", "", 15, "6.03", "V1")


def test_money_rounds_half_up_to_the_penny() -> None:
    # 15/60 * 24.18 = 6.045 exactly: half-up gives 6.05 (banker's rounding would give 6.04).
    result = one(
        [planned("2026-03-02 07:30", 15)],
        [actual("2026-03-02 07:30", "2026-03-02 07:45")],
        line("2026-03-02", "07:30", "07:45", 15, "6.05"),
        contract(rate=__import__("decimal").Decimal("24.18")),
    )
    assert row(result) == ("approved", "", 15, "6.05", "V1")


def test_weekend_uplift_applies_on_saturday_and_sunday() -> None:
    # Saturday 7 March 2026: 30/60 * 24.12 * 1.5 = 18.09; Monday 9 March: 12.06.
    uplifted = contract(weekend_uplift=__import__("decimal").Decimal("1.5"))
    for day, amount in (("2026-03-07", "18.09"), ("2026-03-08", "18.09"), ("2026-03-09", "12.06")):
        result = one(
            [planned(f"{day} 07:30", 30)],
            [actual(f"{day} 07:30", f"{day} 08:00")],
            line(day, "07:30", "08:00", 30, amount),
            uplifted,
        )
        assert row(result) == ("approved", "", 30, amount, "V1"), day


def test_fewer_verified_carers_than_claimed_is_carers_mismatch() -> None:
    # Claimed double-handed, one carer evidenced: pays one carer, 12.06 instead of 24.12.
    result = one(
        [planned("2026-03-02 07:30", 30, carers=2)],
        [actual("2026-03-02 07:30", "2026-03-02 08:00")],
        line("2026-03-02", "07:30", "08:00", 30, "24.12", carers=2),
    )
    assert row(result) == ("adjusted", "CARERS_MISMATCH", 30, "12.06", "V1")


def test_more_verified_carers_than_claimed_pays_the_claimed_carers() -> None:
    # Two carers there, one claimed: carers_paid = min(1, 2) = 1, minutes and money match.
    result = one(
        [planned("2026-03-02 07:30", 30)],
        [
            actual("2026-03-02 07:30", "2026-03-02 08:00", carer="C1"),
            actual("2026-03-02 07:30", "2026-03-02 08:00", carer="C2"),
        ],
        line("2026-03-02", "07:30", "08:00", 30, "12.06"),
    )
    assert row(result) == ("approved", "", 30, "12.06", "V1")


def test_wrong_amount_is_rate_mismatch_even_when_under_claimed() -> None:
    # The engine pays the contract price, 12.06, whether 13.00 or 11.00 was claimed.
    plans = [planned("2026-03-02 07:30", 30)]
    visits = [actual("2026-03-02 07:30", "2026-03-02 08:00")]
    for claimed in ("13.00", "11.00"):
        result = one(plans, visits, line("2026-03-02", "07:30", "08:00", 30, claimed))
        assert row(result) == ("adjusted", "RATE_MISMATCH", 30, "12.06", "V1")


def test_results_keep_input_order_and_name_their_evidence() -> None:
    visits = [
        actual("2026-03-02 12:00", "2026-03-02 12:30"),
        actual("2026-03-02 07:30", "2026-03-02 08:00"),
    ]
    lines = [
        line("2026-03-02", "07:30", "08:00", 30, "12.06", line_no=7),
        line("2026-03-02", "12:00", "12:30", 30, "12.06", line_no=3),
    ]
    results = run([], visits, lines)
    assert [r.line.line_no for r in results] == [7, 3]
    assert [r.used_actuals for r in results] == [(1,), (0,)]
    assert all(r.outcome is Outcome.ADJUSTED for r in results)
