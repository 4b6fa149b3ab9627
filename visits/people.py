"""Finding a service user or a carer by what a person types: part of a name or a code, in any
case ("su0007", "bea"), or the "Name (CODE)" the portal suggests. Only the people the caller's
provider or council has: a provider sees the service users it has visits planned or made for,
and its own carers; a council its own service users.

Names are personal data: every search is a read through the caller's audited request."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import Connection

from core.access import Scope
from core.errors import Forbidden, NotFound
from gateway.registry.queries import require_council, require_provider
from visits import people_store

MAX_MATCHES = 50
# "Bea User (SU0007)": what the suggestions show; the code in brackets is what counts.
_SUGGESTION = re.compile(r"^.*\(([^()]+)\)\s*$")


class Person(BaseModel):
    id: str
    name: str


class PeopleMatches(BaseModel):
    service_users: list[Person]
    carers: list[Person]


@dataclass(frozen=True)
class Resolved:
    """What a typed filter means: one id, or None with the candidates (none, or several)."""

    id: str | None
    candidates: list[Person]


def search_term(typed: str) -> str:
    typed = typed.strip()
    suggested = _SUGGESTION.match(typed)
    return suggested.group(1).strip() if suggested else typed


def _people(rows: list[tuple[str, str]]) -> list[Person]:
    return [Person(id=i, name=n) for i, n in rows]


def provider_people(
    conn: Connection, scope: Scope, provider_id: str, q: str, limit: int = MAX_MATCHES
) -> PeopleMatches:
    if not scope.can_read_provider(provider_id):
        raise NotFound(f"provider {provider_id} not found")
    require_provider(conn, provider_id)
    term = search_term(q)
    return PeopleMatches(
        service_users=_people(people_store.provider_service_users(conn, provider_id, term, limit)),
        carers=_people(people_store.provider_carers(conn, provider_id, term, limit)),
    )


def council_people(
    conn: Connection, scope: Scope, council_id: str, q: str, limit: int = MAX_MATCHES
) -> PeopleMatches:
    if not scope.is_admin:
        if scope.council_id is None:
            raise Forbidden("council officers and administrators only")
        if scope.council_id != council_id:
            raise NotFound(f"council {council_id} not found")
    require_council(conn, council_id)
    term = search_term(q)
    return PeopleMatches(
        service_users=_people(people_store.council_service_users(conn, council_id, term, limit)),
        carers=[],
    )


def resolve(typed: str | None, candidates: list[Person]) -> Resolved:
    """The one person a typed filter names: an exact code (any case) wins, then a single
    match; otherwise no id, and the candidates to choose from."""
    if not typed or not typed.strip():
        return Resolved(None, [])
    term = search_term(typed).casefold()
    exact = [p for p in candidates if p.id.casefold() == term or p.name.casefold() == term]
    if len(exact) == 1:
        return Resolved(exact[0].id, exact)
    if len(candidates) == 1:
        return Resolved(candidates[0].id, candidates)
    return Resolved(None, exact or candidates)
