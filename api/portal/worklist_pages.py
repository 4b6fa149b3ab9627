"""The council's worklist page: corrections and manual visit records awaiting its approval,
each with the visit behind it, approved or rejected (with a reason) one by one or ticked
together; and the alerts providers left unresolved. Same rules as the API (visits.worklist)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import ClockDep, ConnDep, FreshnessDep, PrincipalDep
from api.errors import Unprocessable
from api.portal.pages import page
from api.portal.paths import PORTAL_PREFIX
from gateway.registry import names as registry_names
from visits import worklist
from visits.views import WorklistDecision

router = APIRouter()


def worklist_path(council_id: str) -> str:
    return f"{PORTAL_PREFIX}/councils/{council_id}/worklist"


@router.get("/councils/{council_id}/worklist", response_class=HTMLResponse)
def worklist_page(
    request: Request,
    council_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    clock: ClockDep,
    message: Annotated[str | None, Query(max_length=500)] = None,
    error: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    worklist.ensure_council_officer(conn, principal, council_id)
    freshness.alerts_fresh(clock())
    items = worklist.worklist(conn, freshness, principal, council_id)
    names = registry_names.lookup(
        conn,
        providers=[c.provider_id for c in items.corrections]
        + [m.provider_id for m in items.manual_visits]
        + [a.provider_id for a in items.escalated_alerts],
        service_users=[c.service_user_id for c in items.corrections]
        + [m.service_user_id for m in items.manual_visits]
        + [a.service_user_id for a in items.escalated_alerts],
        carers=[c.carer_id for c in items.corrections] + [m.carer_id for m in items.manual_visits],
    )
    return page(
        request,
        "worklist.html",
        principal,
        council_id=council_id,
        items=items,
        names=names,
        message=message,
        error=error,
    )


def _ids(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError as exc:
        raise Unprocessable("the form named an item that is not a number") from exc


@router.post("/councils/{council_id}/worklist")
def decide(
    council_id: str,
    conn: ConnDep,
    freshness: FreshnessDep,
    principal: PrincipalDep,
    clock: ClockDep,
    corrections: Annotated[list[str] | None, Form(max_length=500)] = None,
    manual_visits: Annotated[list[str] | None, Form(max_length=500)] = None,
    decision: Annotated[str, Form(max_length=10)] = "",
    one: Annotated[str, Form(max_length=80)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse:
    """A row's own button sends `one` ("approve:correction:12"); the buttons under the table
    send `decision` for the ticked rows."""
    worklist.ensure_council_officer(conn, principal, council_id)
    chosen_corrections = _ids(corrections or [])
    chosen_manual = _ids(manual_visits or [])
    if one:
        action, _, rest = one.partition(":")
        kind, _, number = rest.partition(":")
        decision = action
        chosen_corrections = _ids([number]) if kind == "correction" else []
        chosen_manual = _ids([number]) if kind == "manual_visit" else []
    if decision not in ("approve", "reject"):
        return _back(council_id, error="Choose Approve or Reject.")
    if not chosen_corrections and not chosen_manual:
        return _back(council_id, error="Tick at least one item first.")
    if decision == "reject" and not reason.strip():
        return _back(
            council_id,
            error="To reject, write the reason in the box above the buttons: the provider "
            "reads it.",
        )
    outcome = worklist.decide(
        conn,
        freshness,
        principal,
        council_id,
        WorklistDecision(
            decision="approve" if decision == "approve" else "reject",
            reason=reason or None,
            corrections=chosen_corrections,
            manual_visits=chosen_manual,
        ),
        clock(),
    )
    done = [o for o in outcome.outcomes if o.done]
    failed = [o for o in outcome.outcomes if not o.done]
    verb = "approved" if decision == "approve" else "rejected"
    message = f"{len(done)} {'item' if len(done) == 1 else 'items'} {verb}."
    problems = "; ".join(f"{o.kind.replace('_', ' ')} {o.id}: {o.message}" for o in failed)
    return _back(council_id, message=message, error=problems or None)


def _back(
    council_id: str, *, message: str | None = None, error: str | None = None
) -> RedirectResponse:
    query = {k: v for k, v in {"message": message, "error": error}.items() if v}
    return RedirectResponse(f"{worklist_path(council_id)}?{urlencode(query)}", status_code=303)
