"""The council's worklist over HTTP: what awaits its approval (corrections beyond its
threshold, manual visit records) and the alerts providers left unresolved, and decisions on
one item or many (visits.worklist)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ClockDep, ConnDep, FreshnessDep, PrincipalDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, error_response
from visits import worklist
from visits.views import Worklist, WorklistDecision, WorklistOutcome

router = APIRouter(tags=["worklist"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})
COUNCILS_ONLY: dict[int | str, dict[str, Any]] = {
    403: error_response("Council officers and administrators only.")
}


@router.get("/councils/{council_id}/worklist", response_model=Worklist, responses=COUNCILS_ONLY)
def get_worklist(
    council_id: str, conn: ConnDep, freshness: FreshnessDep, principal: PrincipalDep
) -> Worklist:
    """Corrections and manual visit records of the council's service users awaiting its
    approval (oldest first), and escalated alerts still unresolved."""
    return worklist.worklist(conn, freshness, principal, council_id)


@router.post(
    "/councils/{council_id}/worklist/decisions",
    response_model=WorklistOutcome,
    responses=COUNCILS_ONLY,
)
def decide(
    council_id: str,
    body: WorklistDecision,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> WorklistOutcome:
    """Approve, or reject with a reason, the corrections and manual visits named; each is
    decided on its own and reported (one a colleague decided already is reported, not
    fatal)."""
    return worklist.decide(conn, freshness, principal, council_id, body, clock())
