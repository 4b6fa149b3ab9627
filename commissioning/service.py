"""Service requests and their offers: made by a council, offered down the lot's cascade,
accepted or declined by providers, expired by the clock, withdrawn or offered afresh by the
council. Every step is written to the request's history (service_request_event).

Every function takes the moment it acts at (`now`), so tests and the demo run on a clock of
their own. Functions never commit: the caller's transaction holds the whole step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from commissioning import cascade, notification_repository, package_repository, packages
from commissioning import repository as store
from commissioning.access import acting_council, council_filter, ensure_provider
from commissioning.formats import check_pattern
from commissioning.model import (
    CarePackage,
    DeclineReason,
    EventKind,
    Lineup,
    Offer,
    OfferStatus,
    Pattern,
    Policy,
    RequestStatus,
    ServiceRequest,
    Stage,
    weekly_hours,
)
from commissioning.packages import london_today
from commissioning.repository import NewEvent, NewOffer, NewRequest
from commissioning.working_time import response_deadline
from core.access import Scope
from core.errors import Conflict, Forbidden, NotFound, Unprocessable
from gateway.registry import lot_repository

SYSTEM = "system"


# --- the council's side ----------------------------------------------------------------------


@dataclass(frozen=True)
class RequestDetails:
    """A request as made (by an officer or an import), before it is checked."""

    council_id: str
    request_ref: str | None
    service_user_id: str
    lot_id: str
    start_date: date
    end_date: date | None
    visits: Pattern
    notes: str


def policy_of(conn: Connection, council_id: str) -> Policy:
    return store.get_policy(conn, council_id) or Policy()


def lineup_of(conn: Connection, council_id: str, lot_id: str, now: datetime) -> Lineup:
    lot = lot_repository.lineup_on(conn, council_id, lot_id, london_today(now))
    if lot is None:
        return Lineup(lead=None)
    return Lineup(lead=lot.lead, additional=tuple(lot.additional), dps=tuple(lot.dps))


def check_request(conn: Connection, details: RequestDetails) -> None:
    """Registry and pattern checks; raises Unprocessable naming the first problem."""
    exists, council = store.service_user_council(conn, details.service_user_id)
    if not exists or council != details.council_id:
        # One message for "no such person" and "another council's person": ids reveal nothing.
        raise Unprocessable(
            f"council {details.council_id} has no service user {details.service_user_id}",
            code="request_invalid",
        )
    if not lot_repository.lot_exists(conn, details.council_id, details.lot_id):
        raise Unprocessable(
            f"council {details.council_id} has no lot {details.lot_id}", code="request_invalid"
        )
    try:
        check_pattern(details.visits)
    except ValueError as exc:
        raise Unprocessable(str(exc), code="request_invalid") from None


def make_request(
    conn: Connection,
    details: RequestDetails,
    *,
    source: str,
    actor: str,
    now: datetime,
    import_id: int | None = None,
) -> int:
    """Record the request and offer it to the first stage of its lot's cascade."""
    if details.request_ref is not None and store.ref_taken(
        conn, details.council_id, details.request_ref
    ):
        raise Conflict(f"request {details.request_ref} exists already", code="request_exists")
    plan = cascade.cascade_plan(
        lineup_of(conn, details.council_id, details.lot_id, now),
        policy_of(conn, details.council_id),
    )
    request_id = store.insert_request(
        conn,
        NewRequest(
            council_id=details.council_id,
            request_ref=details.request_ref,
            service_user_id=details.service_user_id,
            lot_id=details.lot_id,
            start_date=details.start_date,
            end_date=details.end_date,
            visits=details.visits,
            notes=details.notes,
            cascade=plan,
            source=source,
            import_id=import_id,
            created_by=actor,
            created_at=now,
        ),
    )
    store.add_events(
        conn,
        [
            NewEvent(
                request_id,
                EventKind.CREATED,
                now,
                actor,
                detail={"source": source, "cascade": [stage.as_json() for stage in plan]},
            )
        ],
    )
    request = _locked(conn, request_id)
    _apply(conn, request, cascade.first_stage(plan), round_=0, now=now)
    return request_id


def create_request(
    conn: Connection,
    caller: Scope,
    details: RequestDetails,
    *,
    now: datetime,
    source: str = "api",
) -> int:
    council_id = acting_council(caller, details.council_id or None)
    details = RequestDetails(**{**details.__dict__, "council_id": council_id})
    check_request(conn, details)
    return make_request(conn, details, source=source, actor=caller.subject, now=now)


def council_request(
    conn: Connection, caller: Scope, request_id: int, *, for_update: bool = False
) -> ServiceRequest:
    """A request of the caller's council (any, for an administrator); else not found."""
    if caller.provider_id is not None:
        raise Forbidden("council officers and administrators only")
    request = store.get_request(conn, request_id, for_update=for_update)
    council = council_filter(caller)
    if request is None or (council is not None and request.council_id != council):
        raise NotFound(f"request {request_id} not found")
    return request


def withdraw(
    conn: Connection, caller: Scope, request_id: int, reason: str, *, now: datetime
) -> None:
    request = council_request(conn, caller, request_id, for_update=True)
    if request.status not in (RequestStatus.OPEN, RequestStatus.UNPLACED):
        raise Conflict(f"request {request.request_ref} is {request.status}", code="request_closed")
    _close_open_offers(conn, request, OfferStatus.WITHDRAWN, actor=caller.subject, now=now)
    store.set_withdrawn(conn, request.id, now, caller.subject, reason)
    store.add_events(
        conn,
        [NewEvent(request.id, EventKind.WITHDRAWN, now, caller.subject, detail={"reason": reason})],
    )


def reoffer(
    conn: Connection,
    caller: Scope,
    request_id: int,
    provider_id: str | None,
    *,
    now: datetime,
) -> None:
    """Offer the request afresh: the whole cascade again from the lead, with the lineup and
    settings in force now, or to one provider of the lot alone."""
    request = council_request(conn, caller, request_id, for_update=True)
    if request.status is RequestStatus.PLACED:
        raise Conflict(
            f"request {request.request_ref} is placed; change or end its package instead",
            code="request_closed",
        )
    lineup = lineup_of(conn, request.council_id, request.lot_id, now)
    if provider_id is None:
        plan = cascade.cascade_plan(lineup, policy_of(conn, request.council_id))
    else:
        role = lineup.role_of(provider_id)
        if role is None:
            raise Unprocessable(
                f"provider {provider_id} is not in lot {request.lot_id} today",
                code="request_invalid",
            )
        plan = (Stage(role, (provider_id,)),)
    _close_open_offers(conn, request, OfferStatus.WITHDRAWN, actor=caller.subject, now=now)
    store.restart(conn, request.id, plan)
    store.add_events(
        conn,
        [
            NewEvent(
                request.id,
                EventKind.REOFFERED,
                now,
                caller.subject,
                detail={"cascade": [stage.as_json() for stage in plan]},
            )
        ],
    )
    request = _locked(conn, request.id)
    round_ = max((o.round for o in store.offers_of(conn, request.id)), default=-1) + 1
    _apply(conn, request, cascade.first_stage(plan), round_=round_, now=now)


# --- the provider's side ---------------------------------------------------------------------


def provider_offer(conn: Connection, caller: Scope, provider_id: str, offer_id: int) -> Offer:
    """The offer, when it was made to `provider_id` and the caller may see it."""
    ensure_provider(caller, provider_id)
    offer = store.get_offer(conn, offer_id)
    if offer is None or offer.provider_id != provider_id:
        raise NotFound(f"offer {offer_id} not found")
    if caller.council_id is not None:
        request = store.get_request(conn, offer.request_id)
        if request is None or request.council_id != caller.council_id:
            raise NotFound(f"offer {offer_id} not found")
    return offer


def record_view(conn: Connection, caller: Scope, offer: Offer, *, now: datetime) -> None:
    """The provider opened its offer: counted on the offer and written to the history."""
    if caller.provider_id != offer.provider_id:
        return  # the council or an administrator looking is not the provider's view
    store.record_view(conn, offer.id, now)
    store.add_events(
        conn,
        [
            NewEvent(
                offer.request_id,
                EventKind.VIEWED,
                now,
                caller.subject,
                offer_id=offer.id,
                provider_id=offer.provider_id,
            )
        ],
    )


def _answerable(conn: Connection, caller: Scope, provider_id: str, offer_id: int) -> Offer:
    if caller.provider_id is None:
        raise Forbidden("only the provider offered the request answers the offer")
    offer = provider_offer(conn, caller, provider_id, offer_id)
    # Lock the request: acceptances of its offers queue here, so exactly one can win.
    store.get_request(conn, offer.request_id, for_update=True)
    locked = store.get_offer(conn, offer_id)
    assert locked is not None
    return locked


def _check_open(offer: Offer, now: datetime) -> None:
    if offer.status is not OfferStatus.OPEN:
        raise Conflict(f"offer {offer.id} is {offer.status.value}", code="offer_closed")
    if not cascade.still_answerable(offer, now):
        raise Conflict(
            f"offer {offer.id} expired at {offer.deadline.isoformat()}", code="offer_expired"
        )


def accept(
    conn: Connection,
    caller: Scope,
    provider_id: str,
    offer_id: int,
    *,
    horizon_days: int,
    now: datetime,
) -> int:
    """The provider takes the request: it is placed, every other open offer closes, and the
    care is commissioned as a package with its planned visits. Returns the package id."""
    offer = _answerable(conn, caller, provider_id, offer_id)
    _check_open(offer, now)
    request = store.get_request(conn, offer.request_id)
    assert request is not None and request.status is RequestStatus.OPEN
    store.close_offers(conn, [offer.id], OfferStatus.ACCEPTED, now, caller.subject)
    store.add_events(
        conn,
        [
            NewEvent(
                request.id,
                EventKind.ACCEPTED,
                now,
                caller.subject,
                offer_id=offer.id,
                provider_id=provider_id,
                detail={"role": offer.role.value},
            )
        ],
    )
    _close_open_offers(conn, request, OfferStatus.PLACED_ELSEWHERE, actor=SYSTEM, now=now)
    store.set_placed(conn, request.id, provider_id, offer.role, now)
    package = packages.commission(
        conn,
        request,
        provider_id=provider_id,
        role=offer.role,
        horizon_days=horizon_days,
        actor=caller.subject,
        now=now,
    )
    return package.id


def decline(
    conn: Connection,
    caller: Scope,
    provider_id: str,
    offer_id: int,
    reason: DeclineReason,
    note: str,
    *,
    now: datetime,
) -> None:
    if reason is DeclineReason.OTHER and not note.strip():
        raise Unprocessable("a decline for another reason needs a note", code="decline_invalid")
    offer = _answerable(conn, caller, provider_id, offer_id)
    _check_open(offer, now)
    store.close_offers(
        conn,
        [offer.id],
        OfferStatus.DECLINED,
        now,
        caller.subject,
        reason=reason.value,
        note=note.strip() or None,
    )
    store.add_events(
        conn,
        [
            NewEvent(
                offer.request_id,
                EventKind.DECLINED,
                now,
                caller.subject,
                offer_id=offer.id,
                provider_id=provider_id,
                detail={"reason": reason.value},
            )
        ],
    )
    request = _locked(conn, offer.request_id)
    _advance_request(conn, request, now=now)


# --- the clock -------------------------------------------------------------------------------


@dataclass
class AdvanceReport:
    expired: int = 0
    requests: int = 0


def advance(conn: Connection, *, now: datetime) -> AdvanceReport:
    """Expire every open offer whose deadline has passed and move its request down its
    cascade. Requests another transaction holds (being accepted, withdrawn) are skipped: that
    transaction settles them, or the next pass does."""
    report = AdvanceReport()
    for request_id in store.due_requests(conn, now):
        request = _locked(conn, request_id)
        expired = cascade.due(store.offers_of(conn, request_id), now)
        store.close_offers(conn, [o.id for o in expired], OfferStatus.EXPIRED, now, SYSTEM)
        store.add_events(
            conn,
            [
                NewEvent(
                    request_id,
                    EventKind.EXPIRED,
                    now,
                    SYSTEM,
                    offer_id=o.id,
                    provider_id=o.provider_id,
                    detail={"deadline": o.deadline.isoformat()},
                )
                for o in expired
            ],
        )
        report.expired += len(expired)
        report.requests += 1
        _advance_request(conn, request, now=now)
    return report


# --- shared steps ----------------------------------------------------------------------------


def _locked(conn: Connection, request_id: int) -> ServiceRequest:
    request = store.get_request(conn, request_id, for_update=True)
    assert request is not None
    return request


def _current_round(offers: Sequence[Offer]) -> int:
    return max((o.round for o in offers), default=0)


def _advance_request(conn: Connection, request: ServiceRequest, *, now: datetime) -> None:
    """After an offer of the current stage closed without acceptance."""
    offers = store.offers_of(conn, request.id)
    round_ = _current_round(offers)
    stage_offers = [o for o in offers if o.round == round_ and o.stage == request.stage]
    step = cascade.after_stage(request.cascade, request.stage, stage_offers)
    _apply(conn, request, step, round_=round_, now=now)


def _apply(
    conn: Connection, request: ServiceRequest, step: cascade.Next, *, round_: int, now: datetime
) -> None:
    if isinstance(step, cascade.Wait):
        return
    if isinstance(step, cascade.Unplaced):
        store.set_unplaced(conn, request.id, now)
        store.add_events(conn, [NewEvent(request.id, EventKind.UNPLACED, now, SYSTEM)])
        return
    policy = policy_of(conn, request.council_id)
    deadline = response_deadline(now, policy.response_working_hours)
    offers = store.insert_offers(
        conn,
        [
            NewOffer(request.id, provider, step.stage.role, step.index, round_, now, deadline)
            for provider in step.stage.providers
        ],
    )
    store.set_stage(conn, request.id, step.index)
    store.add_events(
        conn,
        [
            NewEvent(
                request.id,
                EventKind.OFFERED,
                now,
                SYSTEM,
                offer_id=o.id,
                provider_id=o.provider_id,
                detail={"role": o.role.value, "deadline": deadline.isoformat()},
            )
            for o in offers
        ],
    )
    for offer in offers:
        _notify(conn, request, offer, "request.offered", now)


_CLOSING = {
    OfferStatus.WITHDRAWN: (EventKind.WITHDRAWN, "request.withdrawn"),
    OfferStatus.PLACED_ELSEWHERE: (EventKind.PLACED_ELSEWHERE, "request.placed_elsewhere"),
}


def _close_open_offers(
    conn: Connection, request: ServiceRequest, status: OfferStatus, *, actor: str, now: datetime
) -> None:
    """Close the request's open offers (withdrawn, or placed elsewhere) and tell their
    providers."""
    kind, event = _CLOSING[status]
    still_open = [o for o in store.offers_of(conn, request.id) if o.status is OfferStatus.OPEN]
    store.close_offers(conn, [o.id for o in still_open], status, now, actor)
    store.add_events(
        conn,
        [
            NewEvent(request.id, kind, now, actor, offer_id=o.id, provider_id=o.provider_id)
            for o in still_open
        ],
    )
    for offer in still_open:
        _notify(conn, request, offer, event, now)


def _notify(
    conn: Connection, request: ServiceRequest, offer: Offer, event: str, now: datetime
) -> None:
    payload: dict[str, object] = {
        "event": event,
        "offer_id": offer.id,
        "request_id": request.id,
        "request_ref": request.request_ref,
        "council_id": request.council_id,
        "lot_id": request.lot_id,
        "provider_id": offer.provider_id,
        "at": now.isoformat(),
    }
    if event == "request.offered":
        payload |= {
            "role": offer.role.value,
            "deadline": offer.deadline.isoformat(),
            "start_date": request.start_date.isoformat(),
            "weekly_hours": round(weekly_hours(request.visits), 2),
        }
    notification_repository.add_notification(
        conn,
        provider_id=offer.provider_id,
        request_id=request.id,
        offer_id=offer.id,
        event=event,
        at=now,
        payload=payload,
    )


def package_of(conn: Connection, request_id: int) -> int | None:
    package = package_repository.package_of_request(conn, request_id)
    return package.id if package else None


# --- packages --------------------------------------------------------------------------------


def visible_package(conn: Connection, caller: Scope, package_id: int) -> CarePackage:
    """The package, when the caller's council commissioned it or the caller provides it."""
    package = package_repository.get_package(conn, package_id)
    if package is None:
        raise NotFound(f"package {package_id} not found")
    if caller.provider_id is not None:
        if package.provider_id != caller.provider_id:
            raise NotFound(f"package {package_id} not found")
        return package
    council = council_filter(caller)
    if council is not None and package.council_id != council:
        raise NotFound(f"package {package_id} not found")
    return package


def _package_for_change(conn: Connection, caller: Scope, package_id: int) -> CarePackage:
    if caller.provider_id is not None:
        raise Forbidden("the council changes or ends a package")
    visible_package(conn, caller, package_id)
    package = package_repository.get_package(conn, package_id, for_update=True)
    assert package is not None
    return package


def change_package(
    conn: Connection,
    caller: Scope,
    package_id: int,
    *,
    effective_from: date,
    visits: Pattern,
    now: datetime,
) -> None:
    package = _package_for_change(conn, caller, package_id)
    try:
        check_pattern(visits)
    except ValueError as exc:
        raise Unprocessable(str(exc), code="package_invalid") from None
    version = packages.change(
        conn, package, effective_from=effective_from, visits=visits, actor=caller.subject, now=now
    )
    store.add_events(
        conn,
        [
            NewEvent(
                package.request_id,
                EventKind.PACKAGE_CHANGED,
                now,
                caller.subject,
                provider_id=package.provider_id,
                detail={"version": version.version, "effective_from": effective_from.isoformat()},
            )
        ],
    )


def end_package(
    conn: Connection, caller: Scope, package_id: int, *, end_date: date, now: datetime
) -> None:
    package = _package_for_change(conn, caller, package_id)
    version = packages.end(conn, package, end_date=end_date, actor=caller.subject, now=now)
    store.add_events(
        conn,
        [
            NewEvent(
                package.request_id,
                EventKind.PACKAGE_ENDED,
                now,
                caller.subject,
                provider_id=package.provider_id,
                detail={"version": version.version, "end_date": end_date.isoformat()},
            )
        ],
    )


def extend_plans(conn: Connection, *, horizon_days: int, now: datetime) -> int:
    """Roll every package's planned visits forward to the horizon; returns visits written."""
    until = london_today(now) + timedelta(days=horizon_days)
    written = 0
    for package_id in package_repository.packages_to_extend(conn, until):
        package = package_repository.get_package(conn, package_id)
        assert package is not None
        written += packages.extend(conn, package, horizon_days=horizon_days, now=now)
    return written
