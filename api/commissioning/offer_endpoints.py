"""A provider's offers: the list (deadlines first), one offer (reading it is recorded), and
the answer: accept, or decline with a reason. Another provider's offer is 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import ClockDep, ConnDep, PrincipalDep, SettingsDep
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES, error_response
from api.pagination import Limit, Offset
from commissioning import reads, service
from commissioning.model import OfferStatus
from commissioning.views import (
    Decline,
    Package,
    ProviderOffer,
    ProviderOfferList,
    RequestDeliveryList,
)

router = APIRouter(tags=["offers"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})
ANSWER: dict[int | str, dict[str, Any]] = {
    403: error_response("Only the provider offered the request answers."),
    409: error_response("The offer is closed: answered, expired, withdrawn or taken."),
}


@router.get("/providers/{provider_id}/offers", response_model=ProviderOfferList)
def list_offers(
    provider_id: str,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
    status: Annotated[list[OfferStatus] | None, Query(description="Any of these.")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ProviderOfferList:
    """The provider's offers: open ones first, soonest deadline first, then the others."""
    return reads.offers_for_provider(
        conn,
        principal,
        provider_id,
        statuses=[s.value for s in status or []],
        limit=limit,
        offset=offset,
        now=clock(),
    )


@router.get("/providers/{provider_id}/offers/{offer_id}", response_model=ProviderOffer)
def get_offer(
    provider_id: str, offer_id: int, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> ProviderOffer:
    """One offer with what the provider needs to decide; the provider's reading is recorded
    in the request's history."""
    return reads.offer_for_provider(conn, principal, provider_id, offer_id, now=clock())


@router.post(
    "/providers/{provider_id}/offers/{offer_id}/accept",
    response_model=Package,
    responses=ANSWER,
)
def accept_offer(
    provider_id: str,
    offer_id: int,
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> Package:
    """Take the request: it is placed with this provider, the other open offers close, and
    the care is commissioned as a package whose planned visits join the provider's schedule.
    When two providers accept at once, exactly one wins; the other gets 409."""
    package_id = service.accept(
        conn,
        principal,
        provider_id,
        offer_id,
        horizon_days=settings.requests_plan_horizon_days,
        now=clock(),
    )
    return reads.get_package(conn, principal, package_id)


@router.post(
    "/providers/{provider_id}/offers/{offer_id}/decline",
    response_model=ProviderOffer,
    responses=ANSWER,
)
def decline_offer(
    provider_id: str,
    offer_id: int,
    body: Decline,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> ProviderOffer:
    """Decline with a reason from the documented list (`other` needs a note); the request
    moves on down the cascade."""
    now = clock()
    service.decline(conn, principal, provider_id, offer_id, body.reason, body.note, now=now)
    return reads.offer_for_provider(conn, principal, provider_id, offer_id, now=now, viewing=False)


@router.get(
    "/providers/{provider_id}/webhooks/request-deliveries", response_model=RequestDeliveryList
)
def list_request_deliveries(
    provider_id: str, conn: ConnDep, principal: PrincipalDep
) -> RequestDeliveryList:
    """The delivery log of request notifications to the provider's webhook endpoints."""
    return reads.deliveries(conn, principal, provider_id)
