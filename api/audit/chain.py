"""Append to and verify the hash chain in audit_log.

Each entry's hash is SHA-256 over the previous entry's hash (hex) and the entry's canonical JSON
(sorted keys, no whitespace, UTC timestamps in ISO 8601), so changing, removing or reordering any
entry breaks every hash after it. The first entry's previous hash is 64 zeros.

Appends take a transaction-scoped advisory lock, so concurrent requests queue for the tail and
the chain stays linear; the lock is released when the request's transaction commits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Connection, text

GENESIS = "0" * 64
# An arbitrary constant naming "the tail of audit_log" among advisory locks.
AUDIT_LOCK_KEY = 0x45434D_415544
Action = Literal["read", "change"]


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    role: str
    tenant: str | None
    action: str
    method: str
    path: str
    query: str
    client_addr: str | None
    request_id: str

    def canonical_json(self) -> str:
        fields = asdict(self)
        fields["at"] = self.at.astimezone(UTC).isoformat(timespec="microseconds")
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256((prev_hash + entry.canonical_json()).encode()).hexdigest()


def append(
    conn: Connection,
    *,
    actor: str,
    role: str,
    tenant: str | None,
    action: Action,
    method: str,
    path: str,
    query: str,
    client_addr: str | None,
    request_id: str,
) -> AuditEntry:
    conn.execute(text("select pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    tail = conn.execute(text("select id, hash from audit_log order by id desc limit 1")).first()
    last_id, prev_hash = (tail[0], tail[1]) if tail else (0, GENESIS)
    entry = AuditEntry(
        id=last_id + 1,
        at=datetime.now(UTC),
        actor=actor,
        role=role,
        tenant=tenant,
        action=action,
        method=method,
        path=path,
        query=query,
        client_addr=client_addr,
        request_id=request_id,
    )
    conn.execute(
        text(
            "insert into audit_log (id, at, actor, role, tenant, action, method, path, query, "
            "client_addr, request_id, prev_hash, hash) values (:id, :at, :actor, :role, "
            ":tenant, :action, :method, :path, :query, :client_addr, :request_id, :prev_hash, "
            ":hash)"
        ),
        {**asdict(entry), "prev_hash": prev_hash, "hash": entry_hash(prev_hash, entry)},
    )
    return entry


@dataclass(frozen=True)
class Break:
    entry_id: int
    reason: str


@dataclass(frozen=True)
class Verification:
    entries: int
    first_break: Break | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


_SELECT = text(
    "select id, at, actor, role, tenant, action, method, path, query, client_addr, request_id, "
    "prev_hash, hash from audit_log where id > :after order by id limit :batch"
)


def _rows(conn: Connection, batch: int = 5000) -> Iterator[tuple[AuditEntry, str, str]]:
    after = 0
    while True:
        rows = conn.execute(_SELECT, {"after": after, "batch": batch}).all()
        for row in rows:
            *fields, prev_hash, hash_ = tuple(row)
            yield AuditEntry(*fields), prev_hash, hash_
        if len(rows) < batch:
            return
        after = rows[-1][0]


def count(conn: Connection) -> int:
    return int(conn.execute(text("select count(*) from audit_log")).scalar_one())


def verify(conn: Connection, progress: Iterator[None] | None = None) -> Verification:
    """Walk the chain from the first entry; report the first entry whose link or hash fails."""
    expected_prev, expected_id, checked = GENESIS, 1, 0
    for entry, prev_hash, stored_hash in _rows(conn):
        if progress is not None:
            next(progress, None)
        if entry.id != expected_id:
            return Verification(
                checked, Break(expected_id, f"entry {expected_id} is missing (next is {entry.id})")
            )
        if prev_hash != expected_prev:
            return Verification(
                checked, Break(entry.id, "its previous hash does not match the entry before it")
            )
        if entry_hash(prev_hash, entry) != stored_hash:
            return Verification(
                checked, Break(entry.id, "its contents do not match its hash (altered)")
            )
        expected_prev, expected_id, checked = stored_hash, entry.id + 1, checked + 1
    return Verification(checked, None)
