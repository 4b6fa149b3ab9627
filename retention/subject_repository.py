"""The SQL of subject access and erasure: every record that concerns one service user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

_VISITS = "select id from visit where home_key = :su and service_user_id = :su"
_ALERTS = "select id from visit_alert where service_user_id = :su"
_REQUESTS = "select id from service_request where service_user_id = :su"

# One query per section of the export, each selecting every row about the person. Keys of home
# devices are left out: they are secrets of the device, not data about the person.
SECTIONS: dict[str, str] = {
    "service_user": "select id, name, address, council_id, home_lat, home_lon, geofence_m, "
    "home_tag_uid, landline, created_at, pseudonymised_at, records_purged_at "
    "from service_user where id = :su",
    "home_tags": "select uid, service_user_id, created_at, retired_at from home_tag "
    "where service_user_id = :su order by created_at",
    "home_code_devices": "select id, service_user_id, digits, step_s, window_steps, created_at, "
    "retired_at from home_code_device where service_user_id = :su order by created_at",
    "planned_visits": "select * from planned_visit_version where service_user_id = :su "
    "order by planned_start, visit_ref, version",
    "visits": "select * from visit where home_key = :su and service_user_id = :su "
    "order by london_day, check_in, id",
    "visit_carers": f"select * from visit_carer where visit_id in ({_VISITS}) "
    "order by check_in, visit_id, segment_id",
    "visit_anomalies": f"select * from visit_anomaly where visit_id in ({_VISITS}) order by id",
    "visit_corrections": "select * from visit_correction "
    f"where service_user_id = :su or visit_id in ({_VISITS}) order by id",
    "alerts": "select * from visit_alert where service_user_id = :su order by id",
    "alert_notifications": f"select * from alert_notification where alert_id in ({_ALERTS}) "
    "order by id",
    "alert_actions": f"select * from alert_action where alert_id in ({_ALERTS}) order by id",
    "manual_visits": "select * from manual_visit where service_user_id = :su "
    "order by planned_start, id",
    "events": "select * from device_event where service_user_id = :su "
    "order by device_time, event_id",
    "telephony_calls": "select * from telephony_call where service_user_id = :su "
    "order by first_seen_at, call_sid",
    "telephony_events": "select * from telephony_event where service_user_id = :su "
    "order by device_time, event_id",
    "service_requests": "select * from service_request where service_user_id = :su "
    "order by created_at, id",
    "service_offers": f"select * from service_offer where request_id in ({_REQUESTS}) order by id",
    "service_request_events": "select * from service_request_event "
    f"where request_id in ({_REQUESTS}) order by id",
    "care_packages": "select * from care_package where service_user_id = :su order by id",
    "care_package_versions": "select * from care_package_version where package_id in "
    "(select id from care_package where service_user_id = :su) order by package_id, version",
    "reconciliation_lines": "select * from reconciliation_run_line where service_user_ref = :su "
    "order by run_id, position",
    "reconciliation_evidence": "select * from reconciliation_run_evidence "
    "where service_user_ref = :su order by run_id, position",
    "reconciliation_unbilled": "select * from reconciliation_run_unbilled "
    "where service_user_ref = :su order by run_id, position",
    "erasure_requests": "select * from erasure_request where service_user_id = :su order by id",
    # Requests addressed to the person's own records: who looked at them, and when.
    "accesses": "select id, at, actor, role, tenant, action, method, path, query "
    "from audit_log where starts_with(path, '/service-users/' || :su || '/') "
    "or path = '/service-users/' || :su order by id",
}


@dataclass(frozen=True)
class Section:
    columns: list[str]
    rows: list[dict[str, Any]]


def council_of(conn: Connection, service_user_id: str) -> tuple[bool, str | None]:
    """(exists, council) of a service user."""
    row = conn.execute(
        text("select council_id from service_user where id = :su"), {"su": service_user_id}
    ).first()
    return (row is not None, row[0] if row else None)


def sections(conn: Connection, service_user_id: str) -> dict[str, Section]:
    found: dict[str, Section] = {}
    for name, query in SECTIONS.items():
        result = conn.execute(text(query), {"su": service_user_id})
        columns = list(result.keys())
        found[name] = Section(columns, [dict(row) for row in result.mappings()])
    return found


def planned_care_after(conn: Connection, service_user_id: str, moment: Any) -> int:
    """Current planned visits still to come: care that has not ended."""
    return int(
        conn.execute(
            text(
                "select count(*) from planned_visit_version where service_user_id = :su "
                "and superseded_at is null and status = 'planned' and planned_start > :at"
            ),
            {"su": service_user_id, "at": moment},
        ).scalar_one()
    )


def record_erasure(
    conn: Connection, service_user_id: str, requested_by: str, at: Any, report: str
) -> int:
    return int(
        conn.execute(
            text(
                "insert into erasure_request (service_user_id, requested_by, requested_at, report) "
                "values (:su, :by, :at, cast(:report as jsonb)) returning id"
            ),
            {"su": service_user_id, "by": requested_by, "at": at, "report": report},
        ).scalar_one()
    )
