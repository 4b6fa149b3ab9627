"""The interchange files: schedule.csv, actuals.csv, invoice.csv and contract.toml in, report.csv
and its companions out.

A bad row never stops a run: it becomes a Problem (file, line number, reason) and the rest of the
file is read. Only an unusable file (missing, not UTF-8, a required column absent, a contract that
does not parse or validate) stops the run, as UnusableInput.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from core import csv_safe
from reconciliation.records import (
    ActualVisit,
    InvoiceLine,
    LineResult,
    PlannedVisit,
    Verification,
)

SCHEDULE_COLUMNS = (
    "visit_ref",
    "service_user_ref",
    "provider_ref",
    "planned_start",
    "planned_minutes",
    "carers_required",
    "service_type",
)
ACTUALS_COLUMNS = (
    "service_user_ref",
    "provider_ref",
    "carer_ref",
    "check_in",
    "check_out",
    "verification",
)
INVOICE_COLUMNS = (
    "invoice_ref",
    "line_no",
    "provider_ref",
    "service_user_ref",
    "visit_date",
    "start",
    "end",
    "minutes_claimed",
    "carers",
    "amount_claimed",
)
REPORT_COLUMNS = (
    "invoice_ref",
    "line_no",
    "outcome",
    "reason_code",
    "payable_minutes",
    "payable_amount",
    "matched_visit",
)
UNBILLED_COLUMNS = (*ACTUALS_COLUMNS, "minutes")
UNCOMMISSIONED_COLUMNS = ("invoice_ref", "line_no", "provider_ref", "service_user_ref")
PROBLEM_COLUMNS = ("file", "line", "reason")

LINE_END = "\r\n"  # RFC 4180
MONEY = re.compile(r"\d+(\.\d{1,2})?")
CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

T = TypeVar("T")
RowProgress = Callable[[int], None]


class UnusableInput(Exception):
    """A file the run cannot use at all; the messages say which and why."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Loaded(Generic[T]):
    records: list[T]
    problems: list[Problem]
    # Physical line number of each record, for problems found after parsing.
    lines: list[int]


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise UnusableInput([f"{path}: cannot read ({error.strerror})"]) from error
    except UnicodeDecodeError as error:
        raise UnusableInput([f"{path}: not UTF-8 (byte {error.start})"]) from error


def count_rows(path: Path) -> int:
    """The data rows (lines after the header) for a progress bar's total; 0 when unreadable."""
    lines, last = 0, b"\n"
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError:
        return 0
    return max(0, lines - (last == b"\n"))


def _rows(
    path: Path, columns: Sequence[str], progress: RowProgress | None, max_rows: int | None = None
) -> Iterator[tuple[int, list[str], str]]:
    """(starting line number, fields in `columns` order, "" or why the row is unreadable) for
    each non-blank data row. Streams the file: a month of rows is never held as text."""
    line_no = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            try:
                header = next(reader, None)
            except csv.Error as error:
                raise UnusableInput([f"{path}: header row: {error}"]) from error
            restore = csv_safe.restore_row
            if header is None:
                raise UnusableInput([f"{path}: empty file, expected a header row"])
            where, width = _columns(path, header, columns)
            done = 0
            line_no = reader.line_num
            while True:
                start = line_no + 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    line_no = reader.line_num
                    yield start, [], str(error)
                    continue
                line_no = reader.line_num
                done += 1
                if max_rows is not None and done > max_rows:
                    raise UnusableInput([f"{path}: more than {max_rows} rows"])
                if progress is not None and done % 10_000 == 0:
                    progress(10_000)
                if not row or row == [""]:
                    continue
                if len(row) != width:
                    yield start, [], f"expected {width} fields, found {len(row)}"
                    continue
                yield start, restore([row[i] for i in where]), ""
            if progress is not None:
                progress(done % 10_000)
    except OSError as error:
        raise UnusableInput([f"{path}: cannot read ({error.strerror})"]) from error
    except UnicodeDecodeError as error:
        raise UnusableInput([f"{path}: not UTF-8 (after line {line_no})"]) from error


def _columns(path: Path, header: list[str], columns: Sequence[str]) -> tuple[list[int], int]:
    """Where each required column is; any order, extra columns ignored."""
    header = [name.strip() for name in header]
    missing = [name for name in columns if name not in header]
    if missing:
        raise UnusableInput([f"{path}: header lacks column(s) {', '.join(missing)}"])
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise UnusableInput([f"{path}: header repeats column(s) {', '.join(repeated)}"])
    return [header.index(name) for name in columns], len(header)


def _read(
    path: Path,
    columns: Sequence[str],
    parse: Callable[[list[str]], T],
    progress: RowProgress | None,
    max_rows: int | None = None,
) -> Loaded[T]:
    records: list[T] = []
    problems: list[Problem] = []
    lines: list[int] = []
    name = str(path)
    for line_no, fields, unreadable in _rows(path, columns, progress, max_rows):
        if unreadable:
            problems.append(Problem(name, line_no, unreadable))
            continue
        try:
            records.append(parse(fields))
        except ValueError as error:
            problems.append(Problem(name, line_no, str(error)))
            continue
        lines.append(line_no)
    return Loaded(records, problems, lines)


def _required(value: str, column: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{column}: empty")
    return value


def _count(value: str, column: str, least: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{column}: not a whole number: {value!r}") from None
    if number < least:
        raise ValueError(f"{column}: must be at least {least}, got {number}")
    return number


def _moment(value: str, column: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{column}: not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{column}: no UTC offset: {value!r}")
    return moment


# Invoices repeat a month of dates and a day of clock times: parse each text once.
@lru_cache(maxsize=4096)
def _day(value: str, column: str) -> date:
    if not DAY.fullmatch(value):
        raise ValueError(f"{column}: not a YYYY-MM-DD date: {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{column}: no such date: {value!r}") from None


@lru_cache(maxsize=4096)
def _clock(value: str, column: str) -> time:
    if not CLOCK.fullmatch(value):
        raise ValueError(f"{column}: not a local HH:MM time: {value!r}")
    return time(int(value[:2]), int(value[3:]))


def _money(value: str, column: str) -> Decimal:
    if not MONEY.fullmatch(value):
        raise ValueError(f"{column}: not an amount like 12.34: {value!r}")
    return Decimal(value)


# Planned starts sit on a few slots a day: parse each text once.
_planned_start = lru_cache(maxsize=65_536)(_moment)


def _planned(fields: list[str]) -> PlannedVisit:
    visit_ref, service_user, provider, start, minutes, carers, service_type = fields
    return PlannedVisit(
        _required(visit_ref, "visit_ref"),
        _required(service_user, "service_user_ref"),
        _required(provider, "provider_ref"),
        _planned_start(start, "planned_start"),
        _count(minutes, "planned_minutes", 1),
        _count(carers, "carers_required", 1),
        service_type.strip(),
    )


_VERIFICATION = {level.value: level for level in Verification}


def _actual(fields: list[str]) -> ActualVisit:
    service_user, provider, carer, check_in, check_out, verification = fields
    level = _VERIFICATION.get(verification.strip())
    if level is None:
        raise ValueError(f"verification: {verification!r} is not one of {', '.join(_VERIFICATION)}")
    arrived = _moment(check_in, "check_in")
    left = _moment(check_out, "check_out")
    if left < arrived:
        raise ValueError("check_out is before check_in")
    return ActualVisit(
        _required(service_user, "service_user_ref"),
        _required(provider, "provider_ref"),
        _required(carer, "carer_ref"),
        arrived,
        left,
        level,
    )


def _invoice_line(fields: list[str]) -> InvoiceLine:
    invoice_ref, line_no, provider, service_user, day, start, end, minutes, carers, amount = fields
    begins = _clock(start, "start")
    ends = _clock(end, "end")
    if ends <= begins:
        raise ValueError("end is not after start (both are times on visit_date)")
    return InvoiceLine(
        _required(invoice_ref, "invoice_ref"),
        _count(line_no, "line_no", 1),
        _required(provider, "provider_ref"),
        _required(service_user, "service_user_ref"),
        _day(day, "visit_date"),
        begins,
        ends,
        _count(minutes, "minutes_claimed", 0),
        _count(carers, "carers", 1),
        _money(amount, "amount_claimed"),
    )


def read_schedule(path: Path, progress: RowProgress | None = None) -> Loaded[PlannedVisit]:
    loaded = _read(path, SCHEDULE_COLUMNS, _planned, progress)
    # A visit_ref names one planned visit: a second row with it is reported, not guessed at.
    seen: set[str] = set()
    kept: list[PlannedVisit] = []
    lines: list[int] = []
    problems = list(loaded.problems)
    for visit, line_no in zip(loaded.records, loaded.lines, strict=True):
        if visit.visit_ref in seen:
            problems.append(Problem(str(path), line_no, f"visit_ref {visit.visit_ref} repeated"))
            continue
        seen.add(visit.visit_ref)
        kept.append(visit)
        lines.append(line_no)
    problems.sort(key=lambda problem: problem.line)
    return Loaded(kept, problems, lines)


def read_actuals(path: Path, progress: RowProgress | None = None) -> Loaded[ActualVisit]:
    return _read(path, ACTUALS_COLUMNS, _actual, progress)


def read_invoice(
    path: Path, progress: RowProgress | None = None, max_rows: int | None = None
) -> Loaded[InvoiceLine]:
    """`max_rows`: an upload's row limit (the command reads any number)."""
    return _read(path, INVOICE_COLUMNS, _invoice_line, progress, max_rows)


# Output ------------------------------------------------------------------------------------------


def _writer(handle: io.TextIOBase) -> Any:
    # Every cell a spreadsheet would run as a formula gets a leading quote, which the readers
    # above take off again (core.csv_safe, docs/csv.md).
    return csv_safe.writer(handle, lineterminator=LINE_END)


def write_report(path: Path, results: Sequence[LineResult]) -> None:
    """report.csv: one row per invoice line in input order, amounts with two decimals."""
    amounts: dict[Decimal, str] = {}  # a month repeats a few hundred amounts

    def money(amount: Decimal) -> str:
        text = amounts.get(amount)
        if text is None:
            text = amounts[amount] = f"{amount:.2f}"
        return text

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = _writer(handle)
        writer.writerow(REPORT_COLUMNS)
        writer.writerows(
            (
                result.line.invoice_ref,
                result.line.line_no,
                result.outcome.value,
                result.reason.value if result.reason else "",
                result.payable_minutes,
                money(result.payable_amount),
                result.matched_visit,
            )
            for result in results
        )


def write_unbilled(path: Path, actuals: Sequence[ActualVisit], unbilled: Sequence[int]) -> None:
    """Verified visits in the period that no invoice line claimed, in actuals order."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = _writer(handle)
        writer.writerow(UNBILLED_COLUMNS)
        for index in unbilled:
            actual = actuals[index]
            writer.writerow(
                (
                    actual.service_user_ref,
                    actual.provider_ref,
                    actual.carer_ref,
                    actual.check_in.isoformat(),
                    actual.check_out.isoformat(),
                    actual.verification.value,
                    int((actual.check_out - actual.check_in).total_seconds() // 60),
                )
            )


def write_uncommissioned(path: Path, results: Sequence[LineResult]) -> None:
    """Invoice lines for a service user the schedule never planned with that provider."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = _writer(handle)
        writer.writerow(UNCOMMISSIONED_COLUMNS)
        writer.writerows(
            (r.line.invoice_ref, r.line.line_no, r.line.provider_ref, r.line.service_user_ref)
            for r in results
            if r.uncommissioned
        )


def write_problems(path: Path, problems: Sequence[Problem]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = _writer(handle)
        writer.writerow(PROBLEM_COLUMNS)
        writer.writerows((p.file, p.line, p.reason) for p in problems)
