"""Who may use a council's reconciliation: its council officers and administrators.

Provider managers get nothing here (403): what a council decides to pay is the council's record,
and a provider sees its own visits through /providers/{id}/visits. Another council's contract,
invoices and runs are answered 404, as if they did not exist."""

from __future__ import annotations

from sqlalchemy import Connection

from core.access import Scope
from core.errors import Forbidden, NotFound
from gateway.registry.queries import require_council


def ensure_council(conn: Connection, scope: Scope, council_id: str) -> None:
    if scope.is_admin:
        require_council(conn, council_id)
        return
    if scope.council_id is None:
        raise Forbidden("council officers and administrators only")
    if scope.council_id != council_id:
        raise NotFound(f"council {council_id} not found")
