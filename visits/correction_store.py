"""All SQL of visit corrections (visit_correction), and the stays they correct. Callers own the
transaction."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Connection, RowMapping, text

_COLUMNS = (
    "id, visit_id, segment_id, carer_id, reason_code, note, before, after, minutes_moved, "
    "requested_by, requested_at, needs_approval, approved_by, approved_at"
)


def stays_of_visit(conn: Connection, provider_id: str, visit_id: UUID) -> list[dict[str, Any]]:
    """The carers' stays of the provider's visit, with what a correction is measured against."""
    rows = conn.execute(
        text(
            "select v.id as visit_id, v.provider_id, v.service_user_id, v.planned_start, "
            "v.planned_minutes, su.council_id, vc.segment_id, vc.carer_id, vc.check_in, "
            "vc.check_out, vc.correction_id from visit v join visit_carer vc on vc.visit_id = v.id "
            "left join service_user su on su.id = v.service_user_id "
            "where v.id = :visit_id and v.provider_id = :provider_id"
        ),
        {"visit_id": visit_id, "provider_id": provider_id},
    ).mappings()
    return [dict(row) for row in rows]


def insert_correction(conn: Connection, values: dict[str, Any]) -> RowMapping:
    """A new correction; `before` and `after` are JSON texts."""
    return (
        conn.execute(
            text(
                "insert into visit_correction (segment_id, visit_id, provider_id, carer_id, "
                "service_user_id, reason_code, note, check_in, check_out, before, after, "
                "minutes_moved, requested_by, needs_approval) values (:segment, "
                ":visit, :provider, :carer, :home, :reason, :note, :check_in, :check_out, "
                "cast(:before as jsonb), cast(:after as jsonb), :moved, :by, :needs) "
                f"returning {_COLUMNS}"
            ),
            values,
        )
        .mappings()
        .one()
    )


def approval_state(conn: Connection, correction_id: int) -> RowMapping | None:
    """needs_approval, approved_at and the service user's council_id, the row locked."""
    return (
        conn.execute(
            text(
                "select c.needs_approval, c.approved_at, su.council_id from visit_correction c "
                "left join service_user su on su.id = c.service_user_id where c.id = :id "
                "for update of c"
            ),
            {"id": correction_id},
        )
        .mappings()
        .one_or_none()
    )


def approve(conn: Connection, correction_id: int, approved_by: str) -> RowMapping:
    # The database's clock, which the visit builder's change detection reads.
    return (
        conn.execute(
            text(
                "update visit_correction set approved_by = :by, approved_at = clock_timestamp() "
                f"where id = :id returning {_COLUMNS}"
            ),
            {"by": approved_by, "id": correction_id},
        )
        .mappings()
        .one()
    )


def of_visit(conn: Connection, visit_id: UUID) -> list[RowMapping]:
    """Every correction of the visit or of its stays, oldest first."""
    rows = conn.execute(
        text(
            f"select {_COLUMNS} from visit_correction c where c.visit_id = :v or c.segment_id "
            "in (select segment_id from visit_carer where visit_id = :v) order by id"
        ),
        {"v": visit_id},
    ).mappings()
    return list(rows)
