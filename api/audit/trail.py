"""The audit trail as commands and scheduled jobs use it: entries in the same chain as the API's
requests, and the removal of the oldest entries under a signed purge checkpoint (retention)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from api.audit import chain, checkpoints, repository
from core.settings import Settings


@dataclass(frozen=True)
class SystemAuditTrail:
    settings: Settings
    actor: str

    def record(
        self, conn: Connection, *, method: str, path: str, query: str, tenant: str | None
    ) -> None:
        chain.append_system(
            conn, actor=self.actor, method=method, path=path, query=query, tenant=tenant
        )

    def read(self, conn: Connection, *, path: str, query: str, tenant: str | None) -> None:
        chain.append_system(
            conn,
            actor=self.actor,
            method="EXPORT",
            path=path,
            query=query,
            tenant=tenant,
            action="read",
        )

    def remove_oldest(self, conn: Connection, through_id: int, now: datetime) -> int:
        """Sign a purge checkpoint of entry `through_id` (so the chain verifies from the next
        one), then remove the entries up to it. Needs the retention role (its trigger)."""
        repository.lock_tail(conn)
        head = repository.entry_hash_at(conn, through_id)
        if head is None:
            return 0
        key = checkpoints.signing_key(self.settings)
        checkpoints.record(
            self.settings, conn, checkpoints.sign(key, now, "purge", through_id, head)
        )
        return repository.delete_through(conn, through_id)
