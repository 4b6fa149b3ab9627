"""The interchange files: bad rows reported with file, line and reason while the rest proceeds;
unusable files refused; report.csv written exactly."""

from __future__ import annotations

import re
from datetime import date, time
from decimal import Decimal
from pathlib import Path

import pytest

from reconciliation import ContractKind, Rounding, UnverifiedPolicy
from reconciliation.contract_toml import parse_contract
from reconciliation.formats import (
    Problem,
    UnusableInput,
    read_actuals,
    read_invoice,
    read_schedule,
    write_report,
)
from tests.reconciliation.support import actual, line, planned, run

INVOICE_HEADER = (
    "invoice_ref,line_no,provider_ref,service_user_ref,visit_date,start,end,minutes_claimed,"
    "carers,amount_claimed\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_invoice_rows_are_reported_by_line_and_the_rest_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "invoice.csv",
        INVOICE_HEADER
        + "I1,1,P1,SU1,2026-03-02,07:30,08:00,30,1,12.06\n"  # line 2: good
        + "I1,2,P1,SU1,2026-02-30,07:30,08:00,30,1,12.06\n"  # 3: no such date
        + "I1,3,P1,SU1,2026-03-02,7:30,08:00,30,1,12.06\n"  # 4: not HH:MM
        + "I1,4,P1,SU1,2026-03-02,08:00,07:30,30,1,12.06\n"  # 5: end before start
        + "I1,5,P1,SU1,2026-03-02,07:30,08:00,thirty,1,12.06\n"  # 6
        + "I1,6,P1,SU1,2026-03-02,07:30,08:00,30,0,12.06\n"  # 7: no carers
        + "I1,7,P1,SU1,2026-03-02,07:30,08:00,30,1,12.061\n"  # 8: three decimals
        + "I1,8,P1,SU1,2026-03-02,07:30,08:00,30,1\n"  # 9: a field short
        + '"I1\n,9",9,P1,SU1,2026-03-02,07:30,08:00,30,1,-1.00\n'  # 10-11: quoted newline, negative
        + "\n"  # 12: blank, skipped
        + ",10,P1,SU1,2026-03-02,07:30,08:00,30,1,12.06\n"  # 13: no invoice_ref
        + "I1,11,P1,SU1,2026-03-02,12:00,12:30,30,1,12.06\n",  # 14: good
    )
    loaded = read_invoice(path)
    assert [(r.line_no, r.visit_date, r.start, r.amount_claimed) for r in loaded.records] == [
        (1, date(2026, 3, 2), time(7, 30), Decimal("12.06")),
        (11, date(2026, 3, 2), time(12, 0), Decimal("12.06")),
    ]
    assert loaded.lines == [2, 14]
    name = str(path)
    assert loaded.problems == [
        Problem(name, 3, "visit_date: no such date: '2026-02-30'"),
        Problem(name, 4, "start: not a local HH:MM time: '7:30'"),
        Problem(name, 5, "end is not after start (both are times on visit_date)"),
        Problem(name, 6, "minutes_claimed: not a whole number: 'thirty'"),
        Problem(name, 7, "carers: must be at least 1, got 0"),
        Problem(name, 8, "amount_claimed: not an amount like 12.34: '12.061'"),
        Problem(name, 9, "expected 10 fields, found 9"),
        Problem(name, 10, "amount_claimed: not an amount like 12.34: '-1.00'"),
        Problem(name, 13, "invoice_ref: empty"),
    ]


def test_bad_schedule_and_actuals_rows(tmp_path: Path) -> None:
    schedule = write(
        tmp_path,
        "schedule.csv",
        "visit_ref,service_user_ref,provider_ref,planned_start,planned_minutes,carers_required,"
        "service_type\n"
        "V1,SU1,P1,2026-03-02T07:30:00+00:00,30,1,personal_care\n"
        "V2,SU1,P1,2026-03-02T07:30:00,30,1,personal_care\n"  # no offset
        "V1,SU1,P1,2026-03-02T09:30:00+00:00,30,1,personal_care\n"  # repeated ref
        "V3,SU1,P1,2026-03-02T12:00:00Z,0,1,meal\n",  # zero minutes
    )
    loaded = read_schedule(schedule)
    assert [v.visit_ref for v in loaded.records] == ["V1"]
    assert [(p.line, p.reason) for p in loaded.problems] == [
        (3, "planned_start: no UTC offset: '2026-03-02T07:30:00'"),
        (4, "visit_ref V1 repeated"),
        (5, "planned_minutes: must be at least 1, got 0"),
    ]
    actuals = write(
        tmp_path,
        "actuals.csv",
        "service_user_ref,provider_ref,carer_ref,check_in,check_out,verification\n"
        "SU1,P1,C1,2026-03-02T07:30:00+00:00,2026-03-02T08:00:00+00:00,tag\n"
        "SU1,P1,C1,2026-03-02T07:30:00+00:00,2026-03-02T07:00:00+00:00,tag\n"
        "SU1,P1,C1,2026-03-02T07:30:00+00:00,2026-03-02T08:00:00+00:00,photo\n"
        "SU1,P1,C1,yesterday,2026-03-02T08:00:00+00:00,tag\n",
    )
    loaded_actuals = read_actuals(actuals)
    assert len(loaded_actuals.records) == 1
    assert [(p.line, p.reason) for p in loaded_actuals.problems] == [
        (3, "check_out is before check_in"),
        (4, "verification: 'photo' is not one of tag, code, landline, location, manual, none"),
        (5, "check_in: not an ISO 8601 time: 'yesterday'"),
    ]


def test_columns_may_come_in_any_order_and_extra_ones_are_ignored(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "actuals.csv",
        "\ufeffverification,note,check_out,check_in,carer_ref,provider_ref,service_user_ref\n"
        "code,hi,2026-03-02T08:00:00+00:00,2026-03-02T07:30:00+00:00,C1,P1,SU1\n",
    )
    (visit,) = read_actuals(path).records
    assert (visit.carer_ref, visit.verification.value) == ("C1", "code")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("invoice_ref,line_no\nI1,1\n", "header lacks column(s) provider_ref"),
        (INVOICE_HEADER.strip() + ",carers\n", "header repeats column(s) carers"),
    ],
)
def test_unusable_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UnusableInput, match=re.escape(message)):
        read_invoice(write(tmp_path, "invoice.csv", text))


def test_not_utf8_or_missing_is_unusable(tmp_path: Path) -> None:
    path = tmp_path / "invoice.csv"
    path.write_bytes(INVOICE_HEADER.encode() + b"I1,1,P1,SU\xff1\n")
    with pytest.raises(UnusableInput, match="not UTF-8"):
        read_invoice(path)
    with pytest.raises(UnusableInput, match="cannot read"):
        read_invoice(tmp_path / "missing.csv")


def test_contract_defaults() -> None:
    contract = parse_contract('[[provider]]\nref = "P001"\nrate_per_hour = 24.12\n')
    rules = contract.rules
    assert (rules.billing_unit_minutes, rules.rounding, rules.tolerance_minutes) == (
        15,
        Rounding.NEAREST,
        5,
    )
    assert (rules.cap_at_planned, rules.minimum_minutes, rules.match_window_minutes) == (
        True,
        0,
        60,
    )
    assert (rules.unverified, rules.weekend_uplift) == (UnverifiedPolicy.HOLD, Decimal("1.0"))
    terms = contract.providers["P001"]
    assert (terms.contract, terms.rate_per_hour, terms.lot) == (
        ContractKind.FRAMEWORK,
        Decimal("24.12"),
        "",
    )
    assert contract.period is None


def test_contract_with_every_key() -> None:
    contract = parse_contract(
        """
[rules]
billing_unit_minutes = 5
rounding = "up"
tolerance_minutes = 0
cap_at_planned = false
minimum_minutes = 30
match_window_minutes = 90
unverified = "pay"
weekend_uplift = 1.5
bank_holiday_uplift = 2
rollover = true

[period]
start = 2026-03-01
end = 2026-03-31

[[provider]]
ref = "P002"
contract = "block"
rate_per_hour = 21
block_hours_per_week = 400
spot_rate_per_hour = 25.50
lot = "Lot 3"
"""
    )
    assert contract.rules.bank_holiday_uplift == Decimal(2)
    assert contract.period is not None and contract.period.end == date(2026, 3, 31)
    terms = contract.providers["P002"]
    assert terms.extra_rate_per_hour == Decimal("25.50") and terms.lot == "Lot 3"


def test_contract_problems_are_all_reported() -> None:
    with pytest.raises(UnusableInput) as refused:
        parse_contract(
            """
[rules]
billing_unit = 15
tolerance_minutes = "five"

[[provider]]
ref = "P001"
contract = "framework"
rate = 24.12

[[provider]]
ref = "P002"
"""
        )
    assert refused.value.messages == [
        "contract.toml: [rules] unknown key 'billing_unit'",
        "contract.toml: [rules] tolerance_minutes: expected a whole number",
        "contract.toml: [[provider]] #1 unknown key(s) rate",
        "contract.toml: [[provider]] #2 (P002) needs rate_per_hour",
    ]


def test_contract_that_is_not_toml() -> None:
    with pytest.raises(UnusableInput, match=r"contract\.toml"):
        parse_contract("[rules\n")


def test_report_bytes(tmp_path: Path) -> None:
    results = run(
        [planned("2026-03-02 07:30", 30)],
        [actual("2026-03-02 07:30", "2026-03-02 08:00")],
        [
            line("2026-03-02", "07:30", "08:00", 30, "12.06", invoice="INV, March", line_no=1),
            line("2026-03-02", "09:00", "09:30", 30, "12.06", invoice="INV, March", line_no=2),
        ],
    )
    out = tmp_path / "report.csv"
    write_report(out, results)
    assert out.read_bytes() == (
        b"invoice_ref,line_no,outcome,reason_code,payable_minutes,payable_amount,matched_visit\r\n"
        b'"INV, March",1,approved,,30,12.06,V1\r\n'
        b'"INV, March",2,rejected,NO_VISIT,0,0.00,\r\n'
    )
