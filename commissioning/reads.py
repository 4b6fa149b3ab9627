"""Requests, offers and packages as each caller may read them.

A council officer reads its council's requests whole: the cascade, every offer and the history.
A provider reads the requests it was offered, with its own offers and their steps only (not
who else was offered, nor what they answered), and the packages it holds. Reads first let the
clock expire what is due (service.advance), so nobody reads an offer open past its deadline.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from commissioning import notification_repository, package_repository, service
from commissioning import repository as store
from commissioning.access import council_filter, ensure_provider
from commissioning.model import (
    CarePackage,
    DeclineReason,
    Offer,
    OfferStatus,
    ServiceRequest,
    weekly_hours,
)
from commissioning.repository import RequestEvent
from commissioning.views import (
    HistoryEntry,
    Package,
    PackageList,
    PackageVersion,
    ProviderOffer,
    ProviderOfferList,
    RequestDelivery,
    RequestDeliveryList,
    RequestList,
    RequestSummary,
    Stage,
    WeeklyVisit,
)
from commissioning.views import Offer as OfferView
from commissioning.views import ServiceRequest as RequestView
from core.access import Scope
from core.errors import Forbidden, NotFound


def offer_view(offer: Offer) -> OfferView:
    return OfferView(
        id=offer.id,
        request_id=offer.request_id,
        provider_id=offer.provider_id,
        role=offer.role,
        round=offer.round,
        stage=offer.stage,
        offered_at=offer.offered_at,
        deadline=offer.deadline,
        status=offer.status,
        decided_at=offer.decided_at,
        decided_by=offer.decided_by,
        decline_reason=DeclineReason(offer.decline_reason) if offer.decline_reason else None,
        decline_note=offer.decline_note,
        first_viewed_at=offer.first_viewed_at,
        views=offer.views,
    )


def _history(event: RequestEvent) -> HistoryEntry:
    return HistoryEntry(
        at=event.at,
        kind=event.kind,
        actor=event.actor,
        provider_id=event.provider_id,
        offer_id=event.offer_id,
        detail=event.detail,
    )


def _stages(request: ServiceRequest) -> list[Stage]:
    def state(index: int) -> str:
        if request.status.value in ("placed", "unplaced", "withdrawn"):
            return "done" if index <= request.stage else "to_come"
        return (
            "done" if index < request.stage else "current" if index == request.stage else "to_come"
        )

    return [
        Stage.model_validate(
            {"role": stage.role, "providers": list(stage.providers), "state": state(index)}
        )
        for index, stage in enumerate(request.cascade)
    ]


def _visible_request(conn: Connection, caller: Scope, request_id: int) -> ServiceRequest:
    request = store.get_request(conn, request_id)
    if request is None:
        raise NotFound(f"request {request_id} not found")
    if caller.provider_id is not None:
        if not any(o.provider_id == caller.provider_id for o in store.offers_of(conn, request_id)):
            raise NotFound(f"request {request_id} not found")
        return request
    council = council_filter(caller)
    if council is not None and request.council_id != council:
        raise NotFound(f"request {request_id} not found")
    return request


def request_view(conn: Connection, caller: Scope, request_id: int, *, now: datetime) -> RequestView:
    service.advance(conn, now=now)
    request = _visible_request(conn, caller, request_id)
    mine = caller.provider_id
    offers = [o for o in store.offers_of(conn, request_id) if mine is None or o.provider_id == mine]
    package = package_repository.package_of_request(conn, request_id)
    if mine is not None and (package is None or package.provider_id != mine):
        package = None
    return RequestView(
        id=request.id,
        council_id=request.council_id,
        request_ref=request.request_ref,
        service_user_id=request.service_user_id,
        lot_id=request.lot_id,
        start_date=request.start_date,
        end_date=request.end_date,
        visits=[WeeklyVisit.of(slot) for slot in request.visits],
        weekly_hours=round(weekly_hours(request.visits), 2),
        notes=request.notes,
        status=request.status,
        source=request.source,
        created_by=request.created_by,
        created_at=request.created_at,
        placed_at=request.placed_at,
        # A provider learns that the request was placed, not with whom, unless with itself.
        placed_with=request.placed_with if mine is None or request.placed_with == mine else None,
        placed_role=request.placed_role if mine is None or request.placed_with == mine else None,
        closed_at=request.closed_at,
        close_reason=request.close_reason if mine is None else None,
        package_id=package.id if package else None,
        cascade=_stages(request) if mine is None else [],
        offers=[offer_view(o) for o in offers],
        history=[_history(e) for e in store.events_of(conn, request_id, provider_id=mine)],
    )


def list_requests(
    conn: Connection,
    caller: Scope,
    *,
    statuses: Sequence[str],
    lot_id: str | None,
    council_id: str | None,
    limit: int,
    offset: int,
    now: datetime,
) -> RequestList:
    service.advance(conn, now=now)
    mine = caller.provider_id
    council = None if mine is not None else council_filter(caller) or council_id
    rows = store.list_requests(
        conn,
        council_id=council,
        offered_to=mine,
        statuses=statuses,
        lot_id=lot_id,
        limit=limit + 1,
        offset=offset,
    )
    page, next_offset = rows[:limit], (offset + limit if len(rows) > limit else None)
    offers = store.offers_of_requests(conn, [r.id for r in page])
    items = []
    for request in page:
        open_offers = [
            o
            for o in offers.get(request.id, [])
            if o.status is OfferStatus.OPEN and (mine is None or o.provider_id == mine)
        ]
        placed_with = request.placed_with if mine is None or request.placed_with == mine else None
        items.append(
            RequestSummary(
                id=request.id,
                council_id=request.council_id,
                request_ref=request.request_ref,
                service_user_id=request.service_user_id,
                lot_id=request.lot_id,
                start_date=request.start_date,
                weekly_hours=round(weekly_hours(request.visits), 2),
                status=request.status,
                created_at=request.created_at,
                placed_with=placed_with,
                open_offers=[o.provider_id for o in open_offers],
                next_deadline=min((o.deadline for o in open_offers), default=None),
            )
        )
    return RequestList(items=items, next_offset=next_offset)


def _provider_offer(conn: Connection, offer: Offer, request: ServiceRequest) -> ProviderOffer:
    package = package_repository.package_of_request(conn, request.id)
    return ProviderOffer(
        offer=offer_view(offer),
        request_ref=request.request_ref,
        council_id=request.council_id,
        lot_id=request.lot_id,
        service_user_id=request.service_user_id,
        start_date=request.start_date,
        end_date=request.end_date,
        visits=[WeeklyVisit.of(slot) for slot in request.visits],
        weekly_hours=round(weekly_hours(request.visits), 2),
        notes=request.notes,
        package_id=package.id
        if package is not None and package.provider_id == offer.provider_id
        else None,
    )


def offer_for_provider(
    conn: Connection,
    caller: Scope,
    provider_id: str,
    offer_id: int,
    *,
    now: datetime,
    viewing: bool = True,
) -> ProviderOffer:
    """One offer as the provider sees it; the provider's own reading is recorded as a view
    (not the answer shown after it declined)."""
    service.advance(conn, now=now)
    offer = service.provider_offer(conn, caller, provider_id, offer_id)
    if viewing:
        service.record_view(conn, caller, offer, now=now)
    request = store.get_request(conn, offer.request_id)
    assert request is not None
    refreshed = store.get_offer(conn, offer.id)
    assert refreshed is not None
    return _provider_offer(conn, refreshed, request)


def offers_for_provider(
    conn: Connection,
    caller: Scope,
    provider_id: str,
    *,
    statuses: Sequence[str],
    limit: int,
    offset: int,
    now: datetime,
) -> ProviderOfferList:
    ensure_provider(caller, provider_id)
    service.advance(conn, now=now)
    offers = store.provider_offers(
        conn,
        provider_id,
        statuses,
        limit + 1,
        offset,
        council_id=caller.council_id if caller.provider_id is None else None,
    )
    page, next_offset = offers[:limit], (offset + limit if len(offers) > limit else None)
    items = []
    for offer in page:
        request = store.get_request(conn, offer.request_id)
        assert request is not None
        items.append(_provider_offer(conn, offer, request))
    return ProviderOfferList(items=items, next_offset=next_offset)


def package_view(conn: Connection, package: CarePackage) -> Package:
    request = store.get_request(conn, package.request_id)
    assert request is not None
    versions = package_repository.versions(conn, package.id)
    return Package(
        id=package.id,
        request_id=package.request_id,
        request_ref=request.request_ref,
        council_id=package.council_id,
        provider_id=package.provider_id,
        service_user_id=package.service_user_id,
        lot_id=package.lot_id,
        role=package.role,
        planned_until=package.planned_until,
        versions=[
            PackageVersion(
                version=v.version,
                change=v.reason.value,
                effective_from=v.effective_from,
                start_date=v.start_date,
                end_date=v.end_date,
                visits=[WeeklyVisit.of(slot) for slot in v.visits],
                weekly_hours=round(weekly_hours(v.visits), 2),
                made_by=v.made_by,
                made_at=v.made_at,
                current=v.superseded_at is None,
            )
            for v in versions
        ],
    )


def get_package(conn: Connection, caller: Scope, package_id: int) -> Package:
    return package_view(conn, service.visible_package(conn, caller, package_id))


def list_packages(
    conn: Connection,
    caller: Scope,
    *,
    provider_id: str | None,
    limit: int,
    offset: int,
) -> PackageList:
    if caller.provider_id is not None:
        if provider_id is not None and provider_id != caller.provider_id:
            raise NotFound(f"provider {provider_id} not found")
        council, provider_id = None, caller.provider_id
    else:
        council = council_filter(caller)
    rows = package_repository.list_packages(
        conn, council_id=council, provider_id=provider_id, limit=limit + 1, offset=offset
    )
    page, next_offset = rows[:limit], (offset + limit if len(rows) > limit else None)
    return PackageList(items=[package_view(conn, p) for p in page], next_offset=next_offset)


def deliveries(conn: Connection, caller: Scope, provider_id: str) -> RequestDeliveryList:
    ensure_provider(caller, provider_id)
    if caller.council_id is not None:
        raise Forbidden("a provider's delivery log is the provider's")
    return RequestDeliveryList(
        items=[
            RequestDelivery.model_validate(dict(row))
            for row in notification_repository.deliveries(conn, provider_id)
        ]
    )
