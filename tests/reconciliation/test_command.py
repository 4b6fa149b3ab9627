"""`ecm reconcile` end to end on the small example in tests/reconciliation/example (the worked
example of docs/reconciliation.md): exact bytes out, same bytes on a re-run, exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ecm.cli import cli

EXAMPLE = Path(__file__).parent / "example"
FILES = ["contract.toml", "schedule.csv", "actuals.csv", "invoice-p001.csv", "invoice-p002.csv"]

REPORT = (
    "invoice_ref,line_no,outcome,reason_code,payable_minutes,payable_amount,matched_visit\r\n"
    "INV-1,1,approved,,30,12.06,V1\r\n"
    "INV-1,2,adjusted,OVER_CLAIM_MINUTES,30,12.06,V2\r\n"
    "INV-1,3,adjusted,RATE_MISMATCH,60,72.36,V3\r\n"
    "INV-1,4,rejected,DUPLICATE_CLAIM,0,0.00,\r\n"
    "INV-1,5,rejected,NO_VISIT,0,0.00,\r\n"
    "INV-2,1,held,UNVERIFIED,0,0.00,V4\r\n"
)
UNBILLED = (
    "service_user_ref,provider_ref,carer_ref,check_in,check_out,verification,minutes\r\n"
    "SU3,P002,C4,2026-03-03T10:00:00+00:00,2026-03-03T10:20:00+00:00,location,20\r\n"
)
UNCOMMISSIONED = "invoice_ref,line_no,provider_ref,service_user_ref\r\nINV-1,5,P001,SU9\r\n"
PROBLEMS = (
    "file,line,reason\r\n"
    "schedule.csv,6,planned_minutes: not a whole number: 'forty'\r\n"
    "actuals.csv,8,check_out is before check_in\r\n"
    "invoice-p002.csv,3,start: not a local HH:MM time: '9am'\r\n"
    "invoice-p002.csv,4,provider P003 not in contract\r\n"
)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in FILES:
        shutil.copy(EXAMPLE / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def reconcile_cli(
    *invoices: str, out: str = "out/report.csv", contract: str = "contract.toml"
) -> Result:
    return CliRunner().invoke(
        cli,
        [
            "reconcile",
            "--contract",
            contract,
            "--schedule",
            "schedule.csv",
            "--actuals",
            "actuals.csv",
            "--out",
            out,
            "--invoices",
            *invoices,
        ],
    )


def test_the_example_gives_exactly_these_files(folder: Path) -> None:
    result = reconcile_cli("invoice-p001.csv", "invoice-p002.csv")
    assert result.exit_code == 0, result.output
    out = folder / "out"
    assert (out / "report.csv").read_bytes() == REPORT.encode()
    assert (out / "report.unbilled.csv").read_bytes() == UNBILLED.encode()
    assert (out / "report.uncommissioned.csv").read_bytes() == UNCOMMISSIONED.encode()
    assert (out / "report.problems.csv").read_bytes() == PROBLEMS.encode()
    # The summary: claimed 12.06 + 18.09 + 48.24 + 12.06 + 12.06 + 19.80 = 122.31; payable
    # 12.06 + 12.06 + 72.36 = 96.48; variance 25.83.
    assert "122.31" in result.output and "96.48" in result.output and "25.83" in result.output
    for scope in ("P001", "P002", "North", "South"):
        assert scope in result.output


def test_same_inputs_same_bytes(folder: Path) -> None:
    assert reconcile_cli("invoice-p001.csv", "invoice-p002.csv", out="a/report.csv").exit_code == 0
    assert reconcile_cli("invoice-p001.csv", "invoice-p002.csv", out="b/report.csv").exit_code == 0
    for name in ("report", "report.unbilled", "report.uncommissioned", "report.problems"):
        assert (folder / "a" / f"{name}.csv").read_bytes() == (
            folder / "b" / f"{name}.csv"
        ).read_bytes()


def test_invoice_order_decides_the_duplicate_only(folder: Path) -> None:
    # P002's file first: its lines come first, P001's lines keep their outcomes.
    assert reconcile_cli("invoice-p002.csv", "invoice-p001.csv").exit_code == 0
    lines = (folder / "out" / "report.csv").read_text().splitlines()
    assert lines[1] == "INV-2,1,held,UNVERIFIED,0,0.00,V4"
    assert sorted(lines[2:]) == sorted(REPORT.splitlines()[1:6])


def test_repeated_invoices_option(folder: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "reconcile",
            "--contract=contract.toml",
            "--schedule=schedule.csv",
            "--actuals=actuals.csv",
            "--invoices=invoice-p001.csv",
            "--invoices=invoice-p002.csv",
            "--out=report.csv",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (folder / "report.csv").read_bytes() == REPORT.encode()


def test_unusable_inputs_exit_2(folder: Path) -> None:
    (folder / "bad.toml").write_text('[rules]\nrounding = "sideways"\n')
    refused = reconcile_cli("invoice-p001.csv", contract="bad.toml")
    assert refused.exit_code == 2
    assert "rounding: expected one of nearest, up, down, seven_eight" in refused.output
    missing = reconcile_cli("invoice-p009.csv")
    assert missing.exit_code == 2 and "invoice-p009.csv: cannot read" in missing.output
    assert not (folder / "out" / "report.csv").exists()


def test_the_documented_example_is_what_the_command_writes() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "reconciliation.md").read_text()
    shown = "\n".join("    " + row for row in REPORT.splitlines())
    assert shown in doc
