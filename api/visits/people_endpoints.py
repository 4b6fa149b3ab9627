"""Finding service users and carers by part of a name or code, in any case (visits.people).
Names are personal data: each search is an audited read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ConnDep, PrincipalDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES
from visits import people
from visits.people import PeopleMatches

router = APIRouter(tags=["people"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})
Search = Annotated[str, Query(max_length=200, description="Part of a name or code, any case.")]


@router.get("/providers/{provider_id}/people", response_model=PeopleMatches)
def provider_people(
    provider_id: str, conn: ConnDep, principal: PrincipalDep, q: Search = ""
) -> PeopleMatches:
    """The provider's carers, and the service users it has visits planned or made for, whose
    name or code contains `q` (all of them, up to 50 each, when it is empty)."""
    return people.provider_people(conn, principal, provider_id, q)


@router.get("/councils/{council_id}/people", response_model=PeopleMatches)
def council_people(
    council_id: str, conn: ConnDep, principal: PrincipalDep, q: Search = ""
) -> PeopleMatches:
    """The council's service users whose name or code contains `q` (councils and
    administrators)."""
    return people.council_people(conn, principal, council_id, q)
