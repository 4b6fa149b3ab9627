"""The visits in the reconciliation interchange formats (see the reconciliation document):
`actuals.csv`, one row per carer per visit, and `schedule.csv`, the current planned visits.

The reconciliation engine reads these files, so what it pays on is exactly what the visit
tables hold: corrected times where a correction counts, evidence times otherwise."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection

from core import csv_safe
from visits import read_store
from visits.days import day_start

ACTUALS_HEADER = (
    "service_user_ref",
    "provider_ref",
    "carer_ref",
    "check_in",
    "check_out",
    "verification",
)
SCHEDULE_HEADER = (
    "visit_ref",
    "service_user_ref",
    "provider_ref",
    "planned_start",
    "planned_minutes",
    "carers_required",
    "service_type",
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _write(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    out = io.StringIO()
    # Formula-looking cells get a leading quote; the reconciliation readers take it off.
    writer = csv_safe.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def actuals_csv(
    conn: Connection, first: date, last: date, *, provider_id: str | None = None
) -> str:
    """Complete carer stays of visits on London days [first, last]; open stays have no
    interval to pay and are left out."""
    rows = read_store.complete_stays(conn, first, last, provider_id)
    return _write(
        ACTUALS_HEADER,
        [(home, p, carer, _iso(i), _iso(o), level) for home, p, carer, i, o, level in rows],
    )


def schedule_csv(
    conn: Connection, first: date, last: date, *, provider_id: str | None = None
) -> str:
    """Current, not cancelled, planned visits starting on London days [first, last]."""
    rows = read_store.planned_rows(
        conn, day_start(first), day_start(last + timedelta(days=1)), provider_id
    )
    return _write(
        SCHEDULE_HEADER,
        [(ref, home, p, _iso(start), m, c, kind) for ref, home, p, start, m, c, kind in rows],
    )
