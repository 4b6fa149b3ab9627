"""Append to and verify the hash chain in audit_log.

Each entry's hash is SHA-256 over the previous entry's hash (hex) and the entry's canonical JSON
(sorted keys, no whitespace, UTC timestamps in ISO 8601), so changing, removing or reordering any
entry breaks every hash after it. The first entry's previous hash is 64 zeros.

The chain alone cannot show entries cut from its end, nor a chain rewritten and re-hashed by
someone with the database's keys. Signed checkpoints (api.audit.checkpoints) can: verify checks
that every checkpoint's entry still has the hash it signed and that the chain still reaches the
latest checkpoint. When retention removes the oldest entries it signs a `purge` checkpoint of
the last one removed, and the chain is then verified from there.

Appends take a transaction-scoped advisory lock, so concurrent requests queue for the tail and
the chain stays linear; the lock is released when the request's transaction commits.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Connection

from api.audit import repository

if TYPE_CHECKING:
    from api.audit.checkpoints import Checkpoint

GENESIS = "0" * 64
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
    at: datetime | None = None,
) -> AuditEntry:
    repository.lock_tail(conn)
    last = repository.tail(conn)
    last_id, prev_hash = last if last else (0, GENESIS)
    entry = AuditEntry(
        id=last_id + 1,
        at=at or datetime.now(UTC),
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
    repository.insert_entry(conn, entry, prev_hash, entry_hash(prev_hash, entry))
    return entry


SYSTEM_ROLE = "system"


def cli_actor() -> str:
    """Who ran an `ecm` command, as the audit trail names them."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def append_system(
    conn: Connection,
    *,
    actor: str,
    method: str,
    path: str,
    query: str = "",
    tenant: str | None = None,
    action: Action = "change",
    at: datetime | None = None,
) -> AuditEntry:
    """An entry for what a command or a scheduled role did (a purge, an export, a reset), in
    the same chain as the API's requests."""
    return append(
        conn,
        actor=actor,
        role=SYSTEM_ROLE,
        tenant=tenant,
        action=action,
        method=method,
        path=path,
        query=query,
        client_addr=None,
        request_id=uuid.uuid4().hex,
        at=at,
    )


@dataclass(frozen=True)
class Break:
    entry_id: int
    reason: str


@dataclass(frozen=True)
class Verification:
    entries: int
    first_break: Break | None
    # The first entry verified: 1, or the one after a signed purge of the oldest entries.
    first_id: int = 1
    checkpoints_checked: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.first_break is None


def count(conn: Connection) -> int:
    return repository.count(conn)


def verify(
    conn: Connection,
    progress: Iterator[None] | None = None,
    checkpoints: Sequence[Checkpoint] = (),
) -> Verification:
    """Walk the chain from its first entry; report the first entry whose link or hash fails, an
    entry that differs from what a checkpoint signed, or a chain that ends before the latest
    checkpoint. `checkpoints` must already have had their signatures checked."""
    first_id = repository.head_id(conn) or 1
    expected_prev = GENESIS
    if first_id > 1:
        purge = [c for c in checkpoints if c.kind == "purge" and c.entries == first_id - 1]
        if not purge:
            return Verification(
                0,
                Break(
                    1, f"entries 1 to {first_id - 1} are missing and no signed purge covers them"
                ),
                first_id,
            )
        expected_prev = purge[-1].head_hash
    signed: dict[int, Checkpoint] = {c.entries: c for c in checkpoints if c.entries >= first_id}
    expected_id, checked, matched = first_id, 0, 0
    for row in repository.rows(conn):
        *fields, prev_hash, stored_hash = row
        entry = AuditEntry(*fields)
        if progress is not None:
            next(progress, None)
        if entry.id != expected_id:
            return Verification(
                checked,
                Break(expected_id, f"entry {expected_id} is missing (next is {entry.id})"),
                first_id,
                matched,
            )
        if prev_hash != expected_prev:
            return Verification(
                checked,
                Break(entry.id, "its previous hash does not match the entry before it"),
                first_id,
                matched,
            )
        if entry_hash(prev_hash, entry) != stored_hash:
            return Verification(
                checked, Break(entry.id, "its contents do not match its hash (altered)"), first_id
            )
        checkpoint = signed.get(entry.id)
        if checkpoint is not None:
            if checkpoint.head_hash != stored_hash:
                return Verification(
                    checked,
                    Break(
                        entry.id,
                        f"its hash differs from the checkpoint signed at {checkpoint.at_text} "
                        "(the chain was rewritten)",
                    ),
                    first_id,
                    matched,
                )
            matched += 1
        expected_prev, expected_id, checked = stored_hash, entry.id + 1, checked + 1
    last_id = expected_id - 1
    if checkpoints:
        latest = max(checkpoints, key=lambda c: c.entries)
        if latest.entries > last_id:
            return Verification(
                checked,
                Break(
                    last_id + 1,
                    f"the chain ends at entry {last_id} but the checkpoint signed at "
                    f"{latest.at_text} counted {latest.entries}: entries {last_id + 1} to "
                    f"{latest.entries} were removed from the end",
                ),
                first_id,
                matched,
            )
    notes = [] if checkpoints else ["no signed checkpoints: entries cut from the end go unseen"]
    return Verification(checked, None, first_id, matched, notes)
