"""All SQL of schedule import: planned visit versions (planned_visit_version) and the import
log (schedule_import). Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

_CURRENT = text(
    "select visit_ref, version, service_user_id, provider_id, planned_start, planned_minutes, "
    "carers_required, service_type, status from planned_visit_version "
    "where superseded_at is null and visit_ref = any(:refs) for update"
)
_SUPERSEDE = text(
    "update planned_visit_version set superseded_at = :now "
    "where visit_ref = :visit_ref and superseded_at is null"
)
_INSERT = text(
    "insert into planned_visit_version (visit_ref, version, service_user_id, provider_id, "
    "planned_start, planned_minutes, carers_required, service_type, status, valid_from, "
    "import_id) values (:visit_ref, :version, :service_user_id, :provider_id, :planned_start, "
    ":planned_minutes, :carers_required, :service_type, :status, :now, :import_id)"
)


def provider_ids(conn: Connection) -> set[str]:
    return {row[0] for row in conn.execute(text("select id from provider"))}


def service_user_councils(conn: Connection) -> dict[str, str | None]:
    """Every service user's council (None for one without)."""
    return {row[0]: row[1] for row in conn.execute(text("select id, council_id from service_user"))}


def lock_imports(conn: Connection) -> datetime:
    """Serialise imports (two concurrent imports of one visit would both see "no change");
    returns the database's clock once the lock is held."""
    conn.execute(text("select pg_advisory_xact_lock(hashtext('ecm.schedule.import'))"))
    now: datetime = conn.execute(text("select clock_timestamp()")).scalar_one()
    return now


def current_versions(conn: Connection, visit_refs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The current version of each planned visit named, locked, by visit_ref."""
    rows = conn.execute(_CURRENT, {"refs": list(visit_refs)}).mappings()
    return {row["visit_ref"]: dict(row) for row in rows}


def insert_import(conn: Connection, now: datetime, by: str, source: str, sha256: str) -> int:
    import_id: int = conn.execute(
        text(
            "insert into schedule_import (imported_at, imported_by, source, sha256, rows_read, "
            "rows_created, rows_changed, rows_cancelled, rows_unchanged, rows_rejected) "
            "values (:now, :by, :source, :sha, 0, 0, 0, 0, 0, 0) returning id"
        ),
        {"now": now, "by": by, "source": source, "sha": sha256},
    ).scalar_one()
    return import_id


def supersede(conn: Connection, superseded: list[dict[str, Any]]) -> None:
    # Before the new versions: the unique index allows one current version per visit.
    if superseded:
        conn.execute(_SUPERSEDE, superseded)


def insert_versions(conn: Connection, inserted: list[dict[str, Any]]) -> None:
    if inserted:
        conn.execute(_INSERT, inserted)


def record_counts(conn: Connection, import_id: int, counts: dict[str, int]) -> None:
    """The import's counts: read, created, changed, cancelled, unchanged, rejected."""
    conn.execute(
        text(
            "update schedule_import set rows_read = :read, rows_created = :created, "
            "rows_changed = :changed, rows_cancelled = :cancelled, rows_unchanged = :unchanged, "
            "rows_rejected = :rejected where id = :id"
        ),
        {**counts, "id": import_id},
    )
