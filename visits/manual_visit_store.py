"""All SQL of manual visit records (manual_visit) and the planned visits they answer. Callers
own the transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, text

_COLUMNS = (
    "m.id, m.provider_id, m.service_user_id, m.visit_ref, m.planned_start, m.alert_id, "
    "m.carer_id, m.check_in, m.check_out, m.note, m.requested_by, m.requested_at, m.decision, "
    "m.decided_by, m.decided_at, m.decision_reason"
)


def current_plan(conn: Connection, provider_id: str, visit_ref: str) -> RowMapping | None:
    """The provider's current planned visit of that ref (not cancelled), with the service
    user's council, and the status of the visit built for it (None when none is)."""
    return (
        conn.execute(
            text(
                "select p.visit_ref, p.service_user_id, p.planned_start, p.planned_minutes, "
                "su.council_id, (select v.status from visit v "
                "where v.planned_visit_ref = p.visit_ref limit 1) as visit_status "
                "from planned_visit_version p join service_user su on su.id = p.service_user_id "
                "where p.visit_ref = :ref and p.provider_id = :p and p.superseded_at is null "
                "and p.status = 'planned'"
            ),
            {"ref": visit_ref, "p": provider_id},
        )
        .mappings()
        .one_or_none()
    )


def lock_plan(conn: Connection, visit_ref: str) -> None:
    """One manual record at a time per planned visit (the unique index refuses a second)."""
    conn.execute(
        text("select pg_advisory_xact_lock(hashtext('ecm.manual_visit:' || :ref))"),
        {"ref": visit_ref},
    )


def live_record(conn: Connection, visit_ref: str) -> int | None:
    value: int | None = conn.execute(
        text(
            "select id from manual_visit where visit_ref = :ref "
            "and (decision is null or decision = 'approved')"
        ),
        {"ref": visit_ref},
    ).scalar_one_or_none()
    return value


def insert(conn: Connection, values: dict[str, Any]) -> int:
    record_id: int = conn.execute(
        text(
            "insert into manual_visit (provider_id, service_user_id, visit_ref, planned_start, "
            "alert_id, carer_id, check_in, check_out, note, requested_by, requested_at) values "
            "(:provider, :home, :ref, :planned_start, :alert, :carer, :check_in, :check_out, "
            ":note, :by, :at) returning id"
        ),
        values,
    ).scalar_one()
    return record_id


def record(
    conn: Connection, record_id: int, *, provider_id: str | None = None, lock: bool = False
) -> dict[str, Any] | None:
    """One record with its service user's council; with `provider_id`, only that provider's."""
    row = (
        conn.execute(
            text(
                f"select {_COLUMNS}, su.council_id from manual_visit m "
                "join service_user su on su.id = m.service_user_id where m.id = :id "
                "and (cast(:p as text) is null or m.provider_id = :p)"
                + (" for update of m" if lock else "")
            ),
            {"id": record_id, "p": provider_id},
        )
        .mappings()
        .one_or_none()
    )
    return dict(row) if row is not None else None


def of_provider(conn: Connection, provider_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            f"select {_COLUMNS} from manual_visit m where m.provider_id = :p "
            "order by m.requested_at desc, m.id desc limit 1000"
        ),
        {"p": provider_id},
    ).mappings()
    return [dict(r) for r in rows]


def of_plan(conn: Connection, provider_id: str, visit_ref: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            f"select {_COLUMNS} from manual_visit m where m.provider_id = :p "
            "and m.visit_ref = :ref order by m.id"
        ),
        {"p": provider_id, "ref": visit_ref},
    ).mappings()
    return [dict(r) for r in rows]


def pending_for_council(conn: Connection, council_id: str | None) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            f"select {_COLUMNS} from manual_visit m "
            "join service_user su on su.id = m.service_user_id where m.decision is null "
            "and (cast(:council as text) is null or su.council_id = :council) "
            "order by m.requested_at, m.id limit 1000"
        ),
        {"council": council_id},
    ).mappings()
    return [dict(r) for r in rows]


def decide(conn: Connection, record_id: int, decision: str, by: str, reason: str | None) -> None:
    # The database's clock, which the visit builder's change detection reads.
    conn.execute(
        text(
            "update manual_visit set decision = :decision, decided_by = :by, "
            "decided_at = clock_timestamp(), decision_reason = :reason where id = :id"
        ),
        {"decision": decision, "by": by, "reason": reason, "id": record_id},
    )
