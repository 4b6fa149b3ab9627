"""Who may do what with lots, requests, offers and packages.

Council officers work on their own council's lots, requests and packages; an administrator on
any council's. A provider sees only the offers made to it and the packages it holds: another
provider's offer, request or package is "not found", never "forbidden", so ids reveal nothing.
"""

from __future__ import annotations

from core.access import Role, Scope
from core.errors import Forbidden, NotFound, Unprocessable


def acting_council(caller: Scope, council_id: str | None) -> str:
    """The council a council-side action is for: the officer's own (naming another is "not
    found"), or, for an administrator, the one named."""
    if caller.council_id is not None:
        if council_id is not None and council_id != caller.council_id:
            raise NotFound(f"council {council_id} not found")
        return caller.council_id
    if caller.is_admin:
        if council_id is None:
            raise Unprocessable("an administrator names the council (council_id)")
        return council_id
    raise Forbidden("council officers and administrators only")


def ensure_council(caller: Scope, council_id: str) -> None:
    acting_council(caller, council_id)


def council_filter(caller: Scope) -> str | None:
    """For lists: the officer's council; None (every council) for an administrator."""
    if caller.council_id is not None:
        return caller.council_id
    if caller.is_admin:
        return None
    raise Forbidden("council officers and administrators only")


def ensure_provider(caller: Scope, provider_id: str) -> None:
    """A provider's offers are its own; the council reads those of providers it commissions
    (narrowed to its own requests elsewhere), an administrator any."""
    if caller.provider_id is not None:
        if caller.provider_id != provider_id:
            raise NotFound(f"provider {provider_id} not found")
    elif caller.council_id is not None:
        if provider_id not in caller.provider_ids:
            raise NotFound(f"provider {provider_id} not found")
    elif not caller.is_admin:
        raise Forbidden("not allowed")


def is_provider(caller: Scope) -> bool:
    return caller.provider_id is not None


def operator(subject: str) -> Scope:
    """Someone at the command line of the server (`ecm requests ...`): an administrator."""
    return Scope(subject=subject, roles=frozenset({Role.ADMINISTRATOR.value}))
