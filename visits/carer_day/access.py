"""Who reads the carer's day. A carer's day is the provider's employment record: the provider's
managers and administrators read it; a council reads the anonymised aggregates of the providers
it commissions; another provider gets 404, as for any record of a tenant it cannot see."""

from __future__ import annotations

from sqlalchemy import Connection

from core.access import Scope
from core.errors import Forbidden, NotFound
from gateway.registry.queries import require_council, require_provider


def ensure_own_provider(conn: Connection, scope: Scope, provider_id: str) -> None:
    if scope.is_admin:
        require_provider(conn, provider_id)
        return
    if scope.provider_id is not None:
        if scope.provider_id != provider_id:
            raise NotFound(f"provider {provider_id} not found")
        return
    raise Forbidden("carers' days are for their provider; councils read /councils/{id}/carer-days")


def ensure_council(conn: Connection, scope: Scope, council_id: str) -> None:
    if scope.is_admin:
        require_council(conn, council_id)
        return
    if scope.is_council:
        if scope.council_id != council_id:
            raise NotFound(f"council {council_id} not found")
        return
    raise Forbidden("councils and administrators only")
