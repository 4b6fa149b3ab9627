"""The SQL of the audit trail: entries in audit_log and signed checkpoints in audit_checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

if TYPE_CHECKING:
    from api.audit.chain import AuditEntry
    from api.audit.checkpoints import Checkpoint

# An arbitrary constant naming "the tail of audit_log" among advisory locks.
AUDIT_LOCK_KEY = 0x45434D_415544


def lock_tail(conn: Connection) -> None:
    conn.execute(text("select pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})


def tail(conn: Connection) -> tuple[int, str] | None:
    """The last entry's id and hash."""
    row = conn.execute(text("select id, hash from audit_log order by id desc limit 1")).first()
    return (int(row[0]), str(row[1])) if row else None


def head_id(conn: Connection) -> int | None:
    """The first entry kept (1 unless retention removed the oldest)."""
    value = conn.execute(text("select min(id) from audit_log")).scalar_one()
    return int(value) if value is not None else None


def insert_entry(conn: Connection, entry: AuditEntry, prev_hash: str, hash_: str) -> None:
    conn.execute(
        text(
            "insert into audit_log (id, at, actor, role, tenant, action, method, path, query, "
            "client_addr, request_id, prev_hash, hash) values (:id, :at, :actor, :role, "
            ":tenant, :action, :method, :path, :query, :client_addr, :request_id, :prev_hash, "
            ":hash)"
        ),
        {**asdict(entry), "prev_hash": prev_hash, "hash": hash_},
    )


_SELECT = text(
    "select id, at, actor, role, tenant, action, method, path, query, client_addr, request_id, "
    "prev_hash, hash from audit_log where id > :after order by id limit :batch"
)


def rows(conn: Connection, batch: int = 5000) -> Iterator[tuple[Any, ...]]:
    """Every entry in id order, a batch at a time (the trail can be large)."""
    after = 0
    while True:
        found = conn.execute(_SELECT, {"after": after, "batch": batch}).all()
        for row in found:
            yield tuple(row)
        if len(found) < batch:
            return
        after = found[-1][0]


def count(conn: Connection) -> int:
    return int(conn.execute(text("select count(*) from audit_log")).scalar_one())


def entry_hash_at(conn: Connection, entry_id: int) -> str | None:
    value = conn.execute(
        text("select hash from audit_log where id = :id"), {"id": entry_id}
    ).scalar_one_or_none()
    return str(value) if value is not None else None


def last_entry_before(conn: Connection, before: datetime) -> tuple[int, str] | None:
    """The newest entry older than `before`, counted from the head: retention removes the
    entries up to it."""
    row = conn.execute(
        text(
            "select id, hash from audit_log where id = ("
            "select max(id) from audit_log where at < :before)"
        ),
        {"before": before},
    ).first()
    return (int(row[0]), str(row[1])) if row else None


def delete_through(conn: Connection, last_id: int) -> int:
    """Remove entries 1..last_id (the retention role only; the trigger refuses anyone else)."""
    return conn.execute(text("delete from audit_log where id <= :last"), {"last": last_id}).rowcount


def insert_checkpoint(conn: Connection, checkpoint: Checkpoint) -> None:
    conn.execute(
        text(
            "insert into audit_checkpoint (at, kind, entries, head_hash, key_id, signature) "
            "values (:at, :kind, :entries, :head_hash, :key_id, :signature)"
        ),
        asdict(checkpoint),
    )


def checkpoints(conn: Connection) -> list[dict[str, Any]]:
    found = conn.execute(
        text(
            "select at, kind, entries, head_hash, key_id, signature from audit_checkpoint "
            "order by id"
        )
    ).mappings()
    return [dict(row) for row in found]


def latest_checkpoint_head(conn: Connection) -> tuple[int, str] | None:
    """(entries, head hash) of the newest head checkpoint in the database."""
    row = conn.execute(
        text(
            "select entries, head_hash from audit_checkpoint where kind = 'head' "
            "order by id desc limit 1"
        )
    ).first()
    return (int(row[0]), str(row[1])) if row else None
