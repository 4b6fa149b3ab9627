"""Who may use a council's reconciliation: its council officers and administrators.

Provider managers get nothing here (403): what a council decides to pay is the council's record,
and a provider sees its own visits through /providers/{id}/visits. Another council's contract,
invoices and runs are answered 404, as if they did not exist."""

from __future__ import annotations

from sqlalchemy import Connection, text

from api.deps import Principal
from api.errors import Forbidden, NotFound


def ensure_council(conn: Connection, principal: Principal, council_id: str) -> None:
    if principal.is_admin:
        known = conn.execute(
            text("select 1 from council where id = :id"), {"id": council_id}
        ).first()
        if known is None:
            raise NotFound(f"council {council_id} not found")
        return
    if principal.council_id is None:
        raise Forbidden("council officers and administrators only")
    if principal.council_id != council_id:
        raise NotFound(f"council {council_id} not found")
