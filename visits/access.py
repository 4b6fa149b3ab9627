"""Who may do what with visits beyond reading a provider's records (Scope.can_read_provider).

Councils import schedules, approve corrections and read KPIs for their own council only; a
council officer's scope carries the role `council_officer` and its council id.
"""

from __future__ import annotations

from core.access import Scope
from core.errors import Forbidden, NotFound


def is_council(scope: Scope) -> bool:
    return scope.is_council


def council_scope(scope: Scope) -> str | None:
    """None for an administrator (every council); the caller's council for a council user;
    otherwise refused."""
    if scope.is_admin:
        return None
    if scope.is_council:
        return scope.council_id
    raise Forbidden("administrators and councils only")


def ensure_council_reader(scope: Scope, council_id: str) -> str | None:
    """KPIs: an administrator or the council itself reads everything of the council; a
    provider reads its own rows only (returned as the provider filter)."""
    if scope.is_admin:
        return None
    if scope.is_council:
        if scope.council_id != council_id:
            raise NotFound(f"council {council_id} not found")
        return None
    if scope.provider_id is not None:
        return scope.provider_id
    raise Forbidden("not allowed to read KPIs")
