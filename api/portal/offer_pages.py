"""A provider's offers in the portal: the list (open offers first, their deadlines counting
down), one offer with everything needed to decide, and the answer: accept, or decline with a
reason. The same rules as the API's (commissioning.service); another provider's offer is 404."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import ClockDep, ConnDep, Principal, PrincipalDep, SettingsDep
from api.portal.pages import page
from api.portal.paths import PORTAL_PREFIX
from commissioning import reads, service
from commissioning.model import DECLINE_REASON_TEXT, DeclineReason
from commissioning.views import ProviderOffer
from core.errors import DomainError, Unprocessable
from gateway.registry.queries import require_provider
from gateway.registry.repository import list_councils

router = APIRouter()
# The countdowns move on by themselves (no script: the page reloads).
REFRESH_SECONDS = 60


def offer_path(provider_id: str, offer_id: int) -> str:
    return f"{PORTAL_PREFIX}/providers/{provider_id}/offers/{offer_id}"


def time_left(deadline: datetime, now: datetime) -> str:
    """How long a provider has left to answer, as people say it."""
    seconds = int((deadline - now).total_seconds())
    if seconds <= 0:
        return "deadline passed"
    minutes = seconds // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days > 1 else ''} {hours} h left"
    if hours:
        return f"{hours} h {minutes} min left"
    return f"{max(minutes, 1)} min left"


@router.get("/providers/{provider_id}/offers", response_class=HTMLResponse)
def offers_page(
    request: Request, provider_id: str, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> HTMLResponse:
    now = clock()
    offers = reads.offers_for_provider(
        conn, principal, provider_id, statuses=[], limit=200, offset=0, now=now
    ).items
    provider = require_provider(conn, provider_id)
    return page(
        request,
        "offers.html",
        principal,
        provider=provider,
        councils={c.id: c.name for c in list_councils(conn)},
        open_offers=[o for o in offers if o.offer.status == "open"],
        closed_offers=[o for o in offers if o.offer.status != "open"],
        now=now,
        time_left=time_left,
        refresh_seconds=REFRESH_SECONDS,
    )


def _render_offer(
    request: Request,
    principal: Principal,
    offer: ProviderOffer,
    now: datetime,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "offer.html",
        principal,
        item=offer,
        now=now,
        time_left=time_left,
        reasons=[(reason.value, text) for reason, text in DECLINE_REASON_TEXT.items()],
        reason_text={reason.value: text for reason, text in DECLINE_REASON_TEXT.items()},
        answerable=principal.provider_id == offer.offer.provider_id
        and offer.offer.status == "open"
        and now < offer.offer.deadline,
        notice=notice,
        error=error,
        refresh_seconds=REFRESH_SECONDS,
        status_code=status_code,
    )


@router.get("/providers/{provider_id}/offers/{offer_id}", response_class=HTMLResponse)
def offer_page(
    request: Request,
    provider_id: str,
    offer_id: int,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    now = clock()
    # Opening the page is the provider's view of the offer, recorded in the request's history;
    # coming back to it after answering is not.
    offer = reads.offer_for_provider(
        conn, principal, provider_id, offer_id, now=now, viewing=notice is None
    )
    return _render_offer(request, principal, offer, now, notice=notice)


@router.post("/providers/{provider_id}/offers/{offer_id}/accept", response_model=None)
def accept(
    request: Request,
    provider_id: str,
    offer_id: int,
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> HTMLResponse | RedirectResponse:
    now = clock()
    try:
        # A savepoint: a refusal after some writes leaves none of them behind.
        with conn.begin_nested():
            service.accept(
                conn,
                principal,
                provider_id,
                offer_id,
                horizon_days=settings.requests_plan_horizon_days,
                now=now,
            )
    except DomainError as exc:
        return _refused(request, conn, principal, provider_id, offer_id, now, exc)
    return RedirectResponse(f"{offer_path(provider_id, offer_id)}?notice=accepted", 303)


@router.post("/providers/{provider_id}/offers/{offer_id}/decline", response_model=None)
def decline(
    request: Request,
    provider_id: str,
    offer_id: int,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=64)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse | RedirectResponse:
    now = clock()
    try:
        try:
            chosen = DeclineReason(reason)
        except ValueError:
            raise Unprocessable(f"choose a reason from the list, not {reason!r}") from None
        with conn.begin_nested():
            service.decline(conn, principal, provider_id, offer_id, chosen, note, now=now)
    except DomainError as exc:
        return _refused(request, conn, principal, provider_id, offer_id, now, exc)
    return RedirectResponse(f"{offer_path(provider_id, offer_id)}?notice=declined", 303)


def _refused(
    request: Request,
    conn: ConnDep,
    principal: Principal,
    provider_id: str,
    offer_id: int,
    now: datetime,
    exc: DomainError,
) -> HTMLResponse:
    """The offer page again with the reason the answer was refused; 404 stays a 404."""
    if exc.status_code == 404:
        raise exc
    offer = reads.offer_for_provider(conn, principal, provider_id, offer_id, now=now, viewing=False)
    return _render_offer(
        request, principal, offer, now, error=exc.message, status_code=exc.status_code
    )
