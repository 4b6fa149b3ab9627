"""The engine's inputs from the store: a council's planned visits and verified carer stays, in
the same rows and order as visits/export.py writes schedule.csv and actuals.csv, so a run on the
store and `ecm reconcile` on the exported files decide the same.

Each actual keeps where it came from (visit, stay and events) so a payable line can show the
evidence behind it."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from sqlalchemy import Connection

from core import csv_safe
from reconciliation import run_store
from reconciliation.formats import ACTUALS_COLUMNS, SCHEDULE_COLUMNS
from reconciliation.records import ActualVisit, PlannedVisit, Verification
from visits.days import day_start


@dataclass(frozen=True, slots=True)
class Stay:
    """Where an actual visit came from."""

    visit_id: UUID
    segment_id: UUID
    check_in_event_id: UUID | None
    check_out_event_id: UUID | None


@dataclass(frozen=True, slots=True)
class Sources:
    planned: list[PlannedVisit]
    actuals: list[ActualVisit]
    stays: list[Stay]  # stays[i] is where actuals[i] came from
    schedule_sha256: str
    actuals_sha256: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _checksum(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    """SHA-256 of the rows written as the interchange file would be."""
    out = io.StringIO()
    writer = csv_safe.writer(out, lineterminator="\n")  # as visits/export.py writes them
    writer.writerow(header)
    writer.writerows(rows)
    return hashlib.sha256(out.getvalue().encode()).hexdigest()


def load_sources(conn: Connection, council_id: str, first: date, last: date) -> Sources:
    """Planned visits starting, and complete carer stays of visits, on London days
    [first, last], for the council's service users."""
    planned_rows = run_store.planned_rows(
        conn, council_id, day_start(first), day_start(last + timedelta(days=1))
    )
    actual_rows = run_store.actual_rows(conn, council_id, first, last)
    planned = [
        PlannedVisit(ref, home, provider, start, minutes, carers, kind)
        for ref, home, provider, start, minutes, carers, kind in planned_rows
    ]
    actuals = [
        ActualVisit(home, provider, carer, arrived, left, Verification(level), str(segment))
        for home, provider, carer, arrived, left, level, _, segment, _, _ in actual_rows
    ]
    stays = [Stay(row[6], row[7], row[8], row[9]) for row in actual_rows]
    return Sources(
        planned,
        actuals,
        stays,
        _checksum(
            SCHEDULE_COLUMNS,
            [(p[0], p[1], p[2], _iso(p[3]), p[4], p[5], p[6]) for p in planned],
        ),
        _checksum(
            ACTUALS_COLUMNS,
            [(a[0], a[1], a[2], _iso(a[3]), _iso(a[4]), a[5].value) for a in actuals],
        ),
    )


def nothing() -> Sources:
    return Sources([], [], [], _checksum(SCHEDULE_COLUMNS, []), _checksum(ACTUALS_COLUMNS, []))
