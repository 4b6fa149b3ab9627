"""The case system's interchange files (docs/service-requests.md): requests.csv in, and
decisions.csv, packages.csv and monitoring.csv out.

requests.csv has one row per weekly visit slot; the rows sharing a `request_ref` are one
request. Each row is checked on its own and a bad row is reported with its physical line number
(the header is line 1); a request with any bad row is not imported (its other rows say so), and
the other requests are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from commissioning.model import DAY_NAMES, Pattern, VisitSlot
from core import csv_safe

REQUEST_COLUMNS = (
    "request_ref",
    "service_user_ref",
    "lot_ref",
    "start_date",
    "end_date",
    "days",
    "start_time",
    "minutes",
    "carers",
    "service_type",
    "notes",
)
# May be empty on a row; the others may not.
OPTIONAL = frozenset({"end_date", "notes"})
REF = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_MINUTES = 24 * 60
MAX_CARERS = 4
MAX_NOTES = 2000
MAX_SERVICE_TYPE = 64
_LOWER_DAYS = [name.lower() for name in DAY_NAMES]


class RequestsFileError(ValueError):
    """The file as a whole cannot be read (not CSV, missing columns): nothing is imported."""


@dataclass(frozen=True)
class RowError:
    line: int
    request_ref: str | None
    reason: str


@dataclass(frozen=True)
class RequestRow:
    line: int
    request_ref: str
    service_user_id: str
    lot_id: str
    start_date: date
    end_date: date | None
    slot: VisitSlot
    notes: str


@dataclass
class ParsedRequest:
    """One request as the file describes it: its rows' slots make the weekly pattern."""

    request_ref: str
    service_user_id: str
    lot_id: str
    start_date: date
    end_date: date | None
    notes: str
    visits: list[VisitSlot] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    @property
    def first_line(self) -> int:
        return self.lines[0]

    @property
    def pattern(self) -> Pattern:
        return tuple(self.visits)


def parse_days(text: str) -> frozenset[int]:
    """`Mon Tue Fri`, a range `Mon-Fri` (wrapping: `Sat-Mon`), or `daily`; separated by spaces,
    `+` or `;`; any letter case."""
    tokens = [t for t in re.split(r"[\s+;]+", text.strip().lower()) if t]
    if not tokens:
        raise ValueError("days is empty")
    days: set[int] = set()
    for token in tokens:
        if token == "daily":
            days.update(range(7))
            continue
        first, _, last = token.partition("-")
        try:
            start = _LOWER_DAYS.index(first)
            end = _LOWER_DAYS.index(last) if last else start
        except ValueError:
            raise ValueError(
                f"days: {token!r} is not a day (Mon ... Sun, a range such as Mon-Fri, or daily)"
            ) from None
        days.add(start)
        while start != end:
            start = (start + 1) % 7
            days.add(start)
    return frozenset(days)


def parse_start_time(text: str) -> time:
    if not re.fullmatch(r"\d\d:\d\d", text):
        raise ValueError("start_time is not HH:MM (24-hour London time)")
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError("start_time is not HH:MM (24-hour London time)") from None


def check_pattern(slots: Sequence[VisitSlot]) -> None:
    """A pattern needs a visit, and no two visits may start on the same day at the same time
    (that is one visit with more carers)."""
    if not slots:
        raise ValueError("the weekly pattern has no visits")
    seen: set[tuple[int, time]] = set()
    for slot in slots:
        for day in sorted(slot.days):
            if (day, slot.start) in seen:
                raise ValueError(
                    f"two visits start on {DAY_NAMES[day]} at {slot.start:%H:%M}; "
                    "give one visit with more carers"
                )
            seen.add((day, slot.start))


# Rows of one requests.csv (the API's body is limited to 20 MiB as it arrives, api.limits).
MAX_ROWS = 200_000


def parse_requests(content: str) -> tuple[list[ParsedRequest], list[RowError]]:
    """Requests whose every row is well formed; registry checks come later, in the import."""
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff"), newline=""))
    try:
        header = [name.strip() for name in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise RequestsFileError(f"not a CSV file: {exc}") from None
    missing = [name for name in REQUEST_COLUMNS if name not in header]
    if missing:
        raise RequestsFileError(f"header lacks column(s): {', '.join(missing)}")
    reader.fieldnames = header
    errors: list[RowError] = []
    requests: dict[str, ParsedRequest] = {}
    bad: dict[str, int] = {}  # request_ref -> first bad line
    try:
        # A leading apostrophe before a formula character is the CSV helper's escape.
        records: list[tuple[int, dict[Any, Any]]] = []
        for record in reader:
            if len(records) >= MAX_ROWS:
                raise RequestsFileError(f"more than {MAX_ROWS} rows: split the file")
            records.append(
                (reader.line_num, {k: csv_safe.restore(v) if isinstance(v, str) else v
                                   for k, v in record.items()})
            )  # fmt: skip
    except csv.Error as exc:
        raise RequestsFileError(f"line {reader.line_num}: not valid CSV: {exc}") from None
    for line, record in records:
        ref = (record.get("request_ref") or "").strip() or None
        try:
            row = _parse_row(line, record)
            if row.request_ref in bad:
                continue
            _add(requests, row)
        except ValueError as exc:
            errors.append(RowError(line, ref, str(exc)))
            if ref is not None:
                bad.setdefault(ref, line)
    for ref, first_bad in bad.items():
        request = requests.pop(ref, None)
        if request is not None:
            errors += [
                RowError(line, ref, f"request {ref} not imported: line {first_bad} of it is bad")
                for line in request.lines
            ]
    # A row that arrived after a bad one of its request was skipped above; say so too.
    reported = {error.line for error in errors}
    for line, record in records:
        ref = (record.get("request_ref") or "").strip()
        if ref in bad and line not in reported:
            errors.append(
                RowError(line, ref, f"request {ref} not imported: line {bad[ref]} of it is bad")
            )
    errors.sort(key=lambda error: error.line)
    return list(requests.values()), errors


def _add(requests: dict[str, ParsedRequest], row: RequestRow) -> None:
    request = requests.get(row.request_ref)
    if request is None:
        requests[row.request_ref] = ParsedRequest(
            request_ref=row.request_ref,
            service_user_id=row.service_user_id,
            lot_id=row.lot_id,
            start_date=row.start_date,
            end_date=row.end_date,
            notes=row.notes,
            visits=[row.slot],
            lines=[row.line],
        )
        return
    first = request.first_line
    for name, mine, theirs in (
        ("service_user_ref", row.service_user_id, request.service_user_id),
        ("lot_ref", row.lot_id, request.lot_id),
        ("start_date", row.start_date, request.start_date),
        ("end_date", row.end_date, request.end_date),
    ):
        if mine != theirs:
            raise ValueError(f"{name} differs from line {first} of request {row.request_ref}")
    if row.notes and row.notes != request.notes:
        raise ValueError(
            f"notes differ from line {first} of request {row.request_ref} "
            "(give them on one row, or the same on every row)"
        )
    check_pattern([*request.visits, row.slot])
    request.visits.append(row.slot)
    request.lines.append(row.line)


def _parse_row(line: int, record: dict[str | Any, Any]) -> RequestRow:
    if None in record:
        raise ValueError("more fields than the header names")
    values = {name: (record.get(name) or "").strip() for name in record if name}
    for name in REQUEST_COLUMNS:
        if name not in OPTIONAL and not values.get(name):
            raise ValueError(f"{name} is empty")
    for name in ("request_ref", "service_user_ref", "lot_ref"):
        if not REF.match(values[name]):
            raise ValueError(f"{name} is not 1 to 64 of A-Z a-z 0-9 _ . -")
    start = _date(values, "start_date")
    end = _date(values, "end_date") if values.get("end_date") else None
    if end is not None and end < start:
        raise ValueError("end_date is before start_date")
    minutes = _integer(values, "minutes", 1, MAX_MINUTES)
    carers = _integer(values, "carers", 1, MAX_CARERS)
    if len(values["service_type"]) > MAX_SERVICE_TYPE:
        raise ValueError(f"service_type is longer than {MAX_SERVICE_TYPE} characters")
    notes = values.get("notes", "")
    if len(notes) > MAX_NOTES:
        raise ValueError(f"notes are longer than {MAX_NOTES} characters")
    slot = VisitSlot(
        days=parse_days(values["days"]),
        start=parse_start_time(values["start_time"]),
        minutes=minutes,
        carers=carers,
        service_type=values["service_type"],
    )
    return RequestRow(
        line=line,
        request_ref=values["request_ref"],
        service_user_id=values["service_user_ref"],
        lot_id=values["lot_ref"],
        start_date=start,
        end_date=end,
        slot=slot,
        notes=notes,
    )


def _date(values: dict[str, str], name: str) -> date:
    text = values[name]
    if not re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        raise ValueError(f"{name} is not YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} is not a real date") from None


def _integer(values: dict[str, str], name: str, minimum: int, maximum: int) -> int:
    try:
        number = int(values[name])
    except ValueError:
        raise ValueError(f"{name} is not a whole number") from None
    if not minimum <= number <= maximum:
        raise ValueError(f"{name} must be from {minimum} to {maximum}")
    return number


def write_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Through the CSV helper (core.csv_safe, docs/csv.md): a cell a spreadsheet would run as
    a formula (free text: a decline note, a service type) gets a leading apostrophe, which the
    readers take off again; numbers stay numbers."""
    out = io.StringIO()
    writer = csv_safe.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return out.getvalue()


DECISION_COLUMNS = (
    "request_ref",
    "lot_ref",
    "service_user_ref",
    "offer_id",
    "provider_ref",
    "role",
    "round",
    "stage",
    "offered_at",
    "deadline",
    "outcome",
    "decided_at",
    "decided_by",
    "decline_reason",
    "decline_note",
)
PACKAGE_COLUMNS = (
    "package_id",
    "version",
    "change",
    "effective_from",
    "made_at",
    "current",
    "request_ref",
    "provider_ref",
    "role",
    "service_user_ref",
    "lot_ref",
    "start_date",
    "end_date",
    "days",
    "start_time",
    "minutes",
    "carers",
    "service_type",
)
