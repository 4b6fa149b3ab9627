"""One person's data: the subject access export (JSON, or CSV files in a zip) and the erasure
request.

Erasure removes or pseudonymises what no retention rule requires to keep:

- the registry's personal data (name, home location, home tag and fob keys) is pseudonymised at
  once: `registry_personal_data_years` is a longest time to keep, not a duty to keep;
- care records (evidence, visits, corrections, planned visits, alerts) are a duty to keep for
  `care_records_years` after care ended (the Records Management Code); they are deleted now only
  when that time has passed, and otherwise listed in the report with the date they will go;
- the audit trail and the council's reconciliation runs are kept (who read what; what was paid),
  and they name the person by id only.

Erasure is refused while care is still planned (a current planned visit in the future): the
council ends the care first.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from core import csv_safe
from retention import repository, subject_repository
from retention.policy import DEFAULT_POLICY, RetentionPolicy
from retention.service import years_after, years_before

FORMAT_VERSION = 1


class SubjectNotFound(LookupError):
    pass


class CareOngoing(ValueError):
    pass


@dataclass(frozen=True)
class SubjectExport:
    service_user_id: str
    generated_at: datetime
    sections: dict[str, subject_repository.Section]

    def counts(self) -> dict[str, int]:
        return {name: len(section.rows) for name, section in self.sections.items()}

    def to_json(self) -> str:
        document = {
            "format": FORMAT_VERSION,
            "service_user_id": self.service_user_id,
            "generated_at": self.generated_at,
            "counts": self.counts(),
            **{name: section.rows for name, section in self.sections.items()},
        }
        return json.dumps(document, default=_json_value, indent=2, ensure_ascii=False)

    def to_csv_zip(self) -> bytes:
        """One CSV file per section (README.txt says what each is), every cell neutralised."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("README.txt", _readme(self))
            for name, section in self.sections.items():
                archive.writestr(f"{name}.csv", section_csv(section))
        return out.getvalue()


def section_csv(section: subject_repository.Section) -> str:
    text_out = io.StringIO()
    writer = csv_safe.writer(text_out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(section.columns)
    for row in section.rows:
        writer.writerow(_csv_value(row[column]) for column in section.columns)
    return text_out.getvalue()


def _readme(export: SubjectExport) -> str:
    lines = [
        f"Subject access export for service user {export.service_user_id}",
        f"Generated {export.generated_at.isoformat()} (format {FORMAT_VERSION}).",
        "One CSV file per kind of record (UTF-8, RFC 4180). A cell that a spreadsheet would run",
        "as a formula starts with an added ' (docs/csv.md); remove it to read the exact value.",
        "",
        *(f"{name}.csv: {count} rows" for name, count in export.counts().items()),
        "",
    ]
    return "\n".join(lines)


def _json_value(value: object) -> object:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def require_subject(conn: Connection, service_user_id: str) -> str | None:
    """The person's council; SubjectNotFound when there is no such service user."""
    exists, council_id = subject_repository.council_of(conn, service_user_id)
    if not exists:
        raise SubjectNotFound(f"service user {service_user_id} not found")
    return council_id


def export(conn: Connection, service_user_id: str, now: datetime) -> SubjectExport:
    require_subject(conn, service_user_id)
    return SubjectExport(service_user_id, now, subject_repository.sections(conn, service_user_id))


def erase(
    conn: Connection,
    service_user_id: str,
    requested_by: str,
    now: datetime,
    policy: RetentionPolicy | None = None,
) -> dict[str, Any]:
    """Carry out an erasure request; returns (and records) its report."""
    council_id = require_subject(conn, service_user_id)
    upcoming = subject_repository.planned_care_after(conn, service_user_id, now)
    if upcoming:
        raise CareOngoing(
            f"service user {service_user_id} still has {upcoming} planned visit(s) to come: "
            "end the care (cancel them in the schedule) before erasing"
        )
    if policy is None:
        policy = repository.policies(conn).get(council_id or "", DEFAULT_POLICY)
    ended = repository.care_ended(conn, service_user_id) or now
    keep_until = years_after(ended, policy.care_records_years)
    counts = repository.count_care_records(conn, service_user_id)
    events = len(subject_repository.sections(conn, service_user_id)["events"].rows)
    report: dict[str, Any] = {
        "service_user_id": service_user_id,
        "council_id": council_id,
        "requested_by": requested_by,
        "requested_at": now,
        "care_ended": ended,
        "pseudonymised": repository.pseudonymise_service_user(conn, service_user_id, now),
        "deleted": {},
        "kept": [],
    }
    if years_before(now, policy.care_records_years) > ended:
        report["deleted"] = repository.delete_care_records(conn, service_user_id, now)
    else:
        report["kept"].append(
            {
                "what": "care records",
                "rows": counts,
                "until": keep_until,
                "why": f"care records are kept {policy.care_records_years} years after care "
                "ended (retention policy of the council)",
            }
        )
    if events:
        report["kept"].append(
            {
                "what": "device events (evidence)",
                "rows": {"device_event": events},
                "until": keep_until,
                "why": "evidence is append-only; it goes with its month of the event store "
                "once every record in that month is past its retention period",
            }
        )
    report["kept"].append(
        {
            "what": "audit trail and reconciliation runs",
            "why": "who read or changed what, and what the council paid; they name the person "
            "by id only",
        }
    )
    serialised = json.dumps(report, default=_json_value, sort_keys=True)
    report["id"] = subject_repository.record_erasure(
        conn, service_user_id, requested_by, now, serialised
    )
    return json.loads(json.dumps(report, default=_json_value))
