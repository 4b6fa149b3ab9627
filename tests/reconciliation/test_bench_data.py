"""The benchmark's generated month, in miniature, goes through the command as the real one does."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from ecm.cli import cli
from loadtests.reconcile_bench import generate


def test_a_small_generated_month_reconciles(tmp_path: Path) -> None:
    figures = generate(tmp_path, people=20, seed=7)
    invoices = sorted(str(path) for path in tmp_path.glob("invoice-*.csv"))
    out = tmp_path / "report.csv"
    args = ["reconcile", "--contract", str(tmp_path / "contract.toml")]
    args += [
        "--schedule",
        str(tmp_path / "schedule.csv"),
        "--actuals",
        str(tmp_path / "actuals.csv"),
    ]
    result = CliRunner().invoke(cli, [*args, "--out", str(out), "--invoices", *invoices])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        outcomes = Counter(row["outcome"] for row in csv.DictReader(handle))
    assert sum(outcomes.values()) == figures["invoice_lines"]
    # Most of a generated month is delivered, verified and claimed as planned.
    assert outcomes["approved"] > 0.8 * figures["invoice_lines"]
    assert (tmp_path / "report.problems.csv").read_text().splitlines() == ["file,line,reason"]
