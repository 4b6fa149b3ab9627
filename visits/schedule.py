"""Schedule import: planned visits from the council's case system (schedule.csv).

Each row is checked on its own; a bad row is reported with its line number and reason and the
rest of the file is imported. A planned visit is never overwritten: a changed row supersedes the
current version and adds the next one, a row with `status` `cancelled` adds a cancelled version,
and a row equal to the current version changes nothing, so re-importing a file is harmless.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from core import csv_safe
from visits import schedule_store

REQUIRED_COLUMNS = (
    "visit_ref",
    "service_user_ref",
    "provider_ref",
    "planned_start",
    "planned_minutes",
    "carers_required",
    "service_type",
)
STATUSES = ("planned", "cancelled")
MAX_REF = 64
# Rows of one schedule file (the API's body is limited to 20 MiB as it arrives, api.limits).
MAX_ROWS = 200_000


class ScheduleFileError(ValueError):
    """The file as a whole cannot be read (not CSV, missing columns): nothing is imported."""


@dataclass(frozen=True)
class PlannedRow:
    line: int
    visit_ref: str
    service_user_id: str
    provider_id: str
    planned_start: datetime
    planned_minutes: int
    carers_required: int
    service_type: str
    status: str


@dataclass(frozen=True)
class RowError:
    line: int
    visit_ref: str | None
    reason: str


@dataclass
class ImportReport:
    import_id: int | None = None
    rows_read: int = 0
    created: int = 0
    changed: int = 0
    cancelled: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)


def parse_schedule(content: str) -> tuple[list[PlannedRow], list[RowError]]:
    """Rows that are well formed on their own; registry checks come later, in import."""
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff"), newline=""))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ScheduleFileError(f"header lacks column(s): {', '.join(missing)}")
    reader.fieldnames = header
    rows: list[PlannedRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for count, record in enumerate(reader, start=1):
        if count > MAX_ROWS:
            raise ScheduleFileError(f"more than {MAX_ROWS} rows: split the file")
        line = reader.line_num
        ref = (record.get("visit_ref") or "").strip() or None
        try:
            row = _parse_row(line, record)
        except ValueError as exc:
            errors.append(RowError(line, ref, str(exc)))
            continue
        if row.visit_ref in seen:
            errors.append(
                RowError(line, ref, f"visit_ref repeats line {seen[row.visit_ref]} of this file")
            )
            continue
        seen[row.visit_ref] = line
        rows.append(row)
    return rows, errors


def _parse_row(line: int, record: dict[str | Any, Any]) -> PlannedRow:
    if None in record:
        raise ValueError("more fields than the header names")
    # A leading quote before a formula character is the CSV helper's escape (docs/csv.md).
    values = {name: csv_safe.restore(record.get(name) or "").strip() for name in record if name}
    for name in REQUIRED_COLUMNS:
        if not values.get(name):
            raise ValueError(f"{name} is empty")
    for name in ("visit_ref", "service_user_ref", "provider_ref"):
        if len(values[name]) > MAX_REF:
            raise ValueError(f"{name} is longer than {MAX_REF} characters")
    try:
        start = datetime.fromisoformat(values["planned_start"])
    except ValueError:
        raise ValueError("planned_start is not an ISO 8601 date-time") from None
    if start.tzinfo is None:
        raise ValueError("planned_start has no UTC offset")
    minutes = _integer(values, "planned_minutes", minimum=1)
    carers = _integer(values, "carers_required", minimum=1)
    status = values.get("status") or "planned"
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    return PlannedRow(
        line=line,
        visit_ref=values["visit_ref"],
        service_user_id=values["service_user_ref"],
        provider_id=values["provider_ref"],
        planned_start=start,
        planned_minutes=minutes,
        carers_required=carers,
        service_type=values["service_type"],
        status=status,
    )


def _integer(values: dict[str, str], name: str, *, minimum: int) -> int:
    try:
        number = int(values[name])
    except ValueError:
        raise ValueError(f"{name} is not a whole number") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return number


def import_schedule(
    conn: Connection,
    content: str,
    *,
    source: str,
    imported_by: str,
    council_id: str | None = None,
) -> ImportReport:
    """Import one schedule file in the caller's transaction. `council_id` limits the rows to
    that council's service users (a council importing its own schedule)."""
    rows, errors = parse_schedule(content)
    report = ImportReport(rows_read=len(rows) + len(errors), errors=errors)
    providers = schedule_store.provider_ids(conn)
    homes = schedule_store.service_user_councils(conn)
    valid: list[PlannedRow] = []
    for row in rows:
        if row.provider_id not in providers:
            errors.append(RowError(row.line, row.visit_ref, f"unknown provider {row.provider_id}"))
        elif row.service_user_id not in homes:
            errors.append(
                RowError(row.line, row.visit_ref, f"unknown service user {row.service_user_id}")
            )
        elif council_id is not None and homes[row.service_user_id] != council_id:
            errors.append(
                RowError(row.line, row.visit_ref, "service user is not in the importing council")
            )
        else:
            valid.append(row)
    errors.sort(key=lambda error: error.line)
    # Serialise imports: two concurrent imports of one visit would both see "no change".
    now = schedule_store.lock_imports(conn)
    current = schedule_store.current_versions(conn, [row.visit_ref for row in valid])
    import_id = schedule_store.insert_import(
        conn, now, imported_by, source, hashlib.sha256(content.encode()).hexdigest()
    )
    report.import_id = import_id
    superseded: list[dict[str, Any]] = []
    inserted: list[dict[str, Any]] = []
    for row in valid:
        wanted = {
            "service_user_id": row.service_user_id,
            "provider_id": row.provider_id,
            "planned_start": row.planned_start,
            "planned_minutes": row.planned_minutes,
            "carers_required": row.carers_required,
            "service_type": row.service_type,
            "status": row.status,
        }
        existing = current.get(row.visit_ref)
        if existing is not None and all(existing[k] == v for k, v in wanted.items()):
            report.unchanged += 1
            continue
        if existing is None:
            version = 1
            report.created += 1
        else:
            superseded.append({"now": now, "visit_ref": row.visit_ref})
            version = existing["version"] + 1
            if row.status == "cancelled":
                report.cancelled += 1
            else:
                report.changed += 1
        inserted.append(
            {
                **wanted,
                "visit_ref": row.visit_ref,
                "version": version,
                "now": now,
                "import_id": import_id,
            }
        )
    schedule_store.supersede(conn, superseded)
    schedule_store.insert_versions(conn, inserted)
    schedule_store.record_counts(
        conn,
        import_id,
        {
            "read": report.rows_read,
            "created": report.created,
            "changed": report.changed,
            "cancelled": report.cancelled,
            "unchanged": report.unchanged,
            "rejected": report.rejected,
        },
    )
    return report
