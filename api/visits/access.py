"""Who may do what with visits beyond reading a provider's records (api.deps covers that).

Councils import schedules, approve corrections and read KPIs for their own council only. The
sign-in work gives a council principal the role `council` and its council id; until then only
administrators pass these checks.
"""

from __future__ import annotations

from api.auth.roles import Role
from api.deps import Principal
from api.errors import Forbidden, NotFound

# The role sign-in gives a council's staff (the placeholder "council" matched no account).
COUNCIL = Role.COUNCIL_OFFICER.value


def principal_council(principal: Principal) -> str | None:
    # Read defensively: the principal gains council_id with sign-in (issue 7).
    council_id = getattr(principal, "council_id", None)
    return council_id if isinstance(council_id, str) else None


def is_council(principal: Principal) -> bool:
    return COUNCIL in principal.roles and principal_council(principal) is not None


def council_scope(principal: Principal) -> str | None:
    """None for an administrator (every council); the caller's council for a council user;
    otherwise refused."""
    if principal.is_admin:
        return None
    if is_council(principal):
        return principal_council(principal)
    raise Forbidden("administrators and councils only")


def ensure_council_reader(principal: Principal, council_id: str) -> str | None:
    """KPIs: an administrator or the council itself reads everything of the council; a
    provider reads its own rows only (returned as the provider filter)."""
    if principal.is_admin:
        return None
    if is_council(principal):
        if principal_council(principal) != council_id:
            raise NotFound(f"council {council_id} not found")
        return None
    if principal.provider_id is not None:
        return principal.provider_id
    raise Forbidden("not allowed to read KPIs")
