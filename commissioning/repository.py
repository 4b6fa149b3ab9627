"""All SQL of service requests, their offers and history, councils' commissioning settings and
request imports. Callers own the transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, text

from commissioning.model import (
    CascadeMode,
    EventKind,
    LotRole,
    Offer,
    OfferStatus,
    Pattern,
    Policy,
    RequestStatus,
    ServiceRequest,
    Stage,
    pattern_as_json,
    pattern_from_json,
)

_REQUEST_COLUMNS = (
    "id, council_id, request_ref, service_user_id, lot_id, start_date, end_date, visits, notes, "
    "status, cascade, stage, source, created_by, created_at, placed_at, placed_with, "
    "placed_role, closed_at, closed_by, close_reason"
)
_OFFER_COLUMNS = (
    "id, request_id, provider_id, role, stage, round, offered_at, deadline, status, decided_at, "
    "decided_by, decline_reason, decline_note, first_viewed_at, views"
)


def _request(row: RowMapping) -> ServiceRequest:
    return ServiceRequest(
        id=row["id"],
        council_id=row["council_id"],
        request_ref=row["request_ref"],
        service_user_id=row["service_user_id"],
        lot_id=row["lot_id"],
        start_date=row["start_date"],
        end_date=row["end_date"],
        visits=pattern_from_json(row["visits"]),
        notes=row["notes"],
        status=RequestStatus(row["status"]),
        cascade=tuple(Stage.from_json(stage) for stage in row["cascade"]),
        stage=row["stage"],
        source=row["source"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        placed_at=row["placed_at"],
        placed_with=row["placed_with"],
        placed_role=LotRole(row["placed_role"]) if row["placed_role"] else None,
        closed_at=row["closed_at"],
        closed_by=row["closed_by"],
        close_reason=row["close_reason"],
    )


def _offer(row: RowMapping) -> Offer:
    return Offer(
        id=row["id"],
        request_id=row["request_id"],
        provider_id=row["provider_id"],
        role=LotRole(row["role"]),
        stage=row["stage"],
        round=row["round"],
        offered_at=row["offered_at"],
        deadline=row["deadline"],
        status=OfferStatus(row["status"]),
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
        decline_reason=row["decline_reason"],
        decline_note=row["decline_note"],
        first_viewed_at=row["first_viewed_at"],
        views=row["views"],
    )


# --- councils' settings -------------------------------------------------------------------


def get_policy(conn: Connection, council_id: str) -> Policy | None:
    row = (
        conn.execute(
            text(
                "select response_working_hours, additional_mode, dps_mode "
                "from commissioning_policy where council_id = :c"
            ),
            {"c": council_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return Policy(
        response_working_hours=row["response_working_hours"],
        additional_mode=CascadeMode(row["additional_mode"]),
        dps_mode=CascadeMode(row["dps_mode"]),
    )


def set_policy(conn: Connection, council_id: str, policy: Policy) -> None:
    conn.execute(
        text(
            "insert into commissioning_policy (council_id, response_working_hours, "
            "additional_mode, dps_mode) values (:c, :h, :a, :d) on conflict (council_id) do "
            "update set response_working_hours = excluded.response_working_hours, "
            "additional_mode = excluded.additional_mode, dps_mode = excluded.dps_mode"
        ),
        {
            "c": council_id,
            "h": policy.response_working_hours,
            "a": policy.additional_mode.value,
            "d": policy.dps_mode.value,
        },
    )


# --- the registry, as requests need it ------------------------------------------------------


def service_user_council(conn: Connection, service_user_id: str) -> tuple[bool, str | None]:
    """(exists, its council)."""
    row = conn.execute(
        text("select council_id from service_user where id = :s"), {"s": service_user_id}
    ).first()
    return (False, None) if row is None else (True, row[0])


def service_user_councils(conn: Connection, ids: Collection[str]) -> dict[str, str | None]:
    rows = conn.execute(
        text("select id, council_id from service_user where id = any(:ids)"), {"ids": list(ids)}
    )
    return {row[0]: row[1] for row in rows}


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRequest:
    council_id: str
    request_ref: str | None  # None: SR<id>, given once the id is known
    service_user_id: str
    lot_id: str
    start_date: date
    end_date: date | None
    visits: Pattern
    notes: str
    cascade: tuple[Stage, ...]
    source: str
    import_id: int | None
    created_by: str
    created_at: datetime


def insert_request(conn: Connection, new: NewRequest) -> int:
    # The id first, so a request made without the case system's reference gets SR-<id>.
    request_id: int = conn.execute(
        text("select nextval(pg_get_serial_sequence('service_request', 'id'))")
    ).scalar_one()
    ref = new.request_ref or f"SR-{request_id}"
    if new.request_ref is None and ref_taken(conn, new.council_id, ref):
        ref = f"SR-{request_id}-{uuid.uuid4().hex[:6]}"  # the case system used SR-<n> itself
    conn.execute(
        text(
            "insert into service_request (id, council_id, request_ref, service_user_id, lot_id, "
            "start_date, end_date, visits, notes, status, cascade, stage, source, import_id, "
            "created_by, created_at) overriding system value values (:id, :council, :ref, "
            ":user, :lot, :start, :end, cast(:visits as jsonb), :notes, 'open', "
            "cast(:cascade as jsonb), 0, :source, :import_id, :by, :at)"
        ),
        {
            "id": request_id,
            "council": new.council_id,
            "ref": ref,
            "user": new.service_user_id,
            "lot": new.lot_id,
            "start": new.start_date,
            "end": new.end_date,
            "visits": json.dumps(pattern_as_json(new.visits)),
            "notes": new.notes,
            "cascade": json.dumps([stage.as_json() for stage in new.cascade]),
            "source": new.source,
            "import_id": new.import_id,
            "by": new.created_by,
            "at": new.created_at,
        },
    )
    return request_id


def get_request(
    conn: Connection, request_id: int, *, for_update: bool = False
) -> ServiceRequest | None:
    lock = " for update" if for_update else ""
    row = (
        conn.execute(
            text(f"select {_REQUEST_COLUMNS} from service_request where id = :id{lock}"),
            {"id": request_id},
        )
        .mappings()
        .first()
    )
    return _request(row) if row else None


def requests_by_ref(conn: Connection, council_id: str, refs: Collection[str]) -> dict[str, Any]:
    rows = conn.execute(
        text(
            f"select {_REQUEST_COLUMNS} from service_request where council_id = :c "
            "and request_ref = any(:refs)"
        ),
        {"c": council_id, "refs": list(refs)},
    ).mappings()
    return {row["request_ref"]: _request(row) for row in rows}


def ref_taken(conn: Connection, council_id: str, request_ref: str) -> bool:
    return (
        conn.execute(
            text("select 1 from service_request where council_id = :c and request_ref = :r"),
            {"c": council_id, "r": request_ref},
        ).first()
        is not None
    )


def list_requests(
    conn: Connection,
    *,
    council_id: str | None,
    offered_to: str | None,
    statuses: Sequence[str],
    lot_id: str | None,
    limit: int,
    offset: int,
) -> list[ServiceRequest]:
    """Newest first. `offered_to` keeps the requests that provider was ever offered."""
    rows = conn.execute(
        text(
            f"select {_REQUEST_COLUMNS} from service_request r "
            "where (cast(:council as text) is null or r.council_id = :council) "
            "and (cardinality(cast(:statuses as text[])) = 0 or r.status = any(:statuses)) "
            "and (cast(:lot as text) is null or r.lot_id = :lot) "
            "and (cast(:provider as text) is null or exists (select 1 from service_offer o "
            "where o.request_id = r.id and o.provider_id = :provider)) "
            "order by r.created_at desc, r.id desc limit :limit offset :offset"
        ),
        {
            "council": council_id,
            "statuses": list(statuses),
            "lot": lot_id,
            "provider": offered_to,
            "limit": limit,
            "offset": offset,
        },
    ).mappings()
    return [_request(row) for row in rows]


def set_stage(conn: Connection, request_id: int, stage: int) -> None:
    conn.execute(
        text("update service_request set stage = :s where id = :id"),
        {"s": stage, "id": request_id},
    )


def restart(conn: Connection, request_id: int, cascade: Sequence[Stage]) -> None:
    conn.execute(
        text(
            "update service_request set status = 'open', stage = 0, cascade = cast(:c as jsonb), "
            "closed_at = null, closed_by = null, close_reason = null where id = :id"
        ),
        {"c": json.dumps([stage.as_json() for stage in cascade]), "id": request_id},
    )


def set_unplaced(conn: Connection, request_id: int, now: datetime) -> None:
    conn.execute(
        text(
            "update service_request set status = 'unplaced', closed_at = :now, "
            "closed_by = 'system', close_reason = 'every provider of the cascade said no' "
            "where id = :id"
        ),
        {"now": now, "id": request_id},
    )


def set_placed(
    conn: Connection, request_id: int, provider_id: str, role: LotRole, now: datetime
) -> None:
    conn.execute(
        text(
            "update service_request set status = 'placed', placed_at = :now, placed_with = :p, "
            "placed_role = :role where id = :id"
        ),
        {"now": now, "p": provider_id, "role": role.value, "id": request_id},
    )


def set_withdrawn(conn: Connection, request_id: int, now: datetime, by: str, reason: str) -> None:
    conn.execute(
        text(
            "update service_request set status = 'withdrawn', closed_at = :now, closed_by = :by, "
            "close_reason = :reason where id = :id"
        ),
        {"now": now, "by": by, "reason": reason, "id": request_id},
    )


def due_requests(conn: Connection, now: datetime, limit: int = 500) -> list[int]:
    """Requests with an open offer past its deadline, locked; those another transaction holds
    (an acceptance, a withdrawal, another pass) are skipped rather than waited for, so a pass
    never deadlocks with them."""
    return list(
        conn.execute(
            text(
                "select id from service_request where status = 'open' and id in ("
                "select request_id from service_offer where status = 'open' "
                "and deadline <= :now) order by id limit :limit for update skip locked"
            ),
            {"now": now, "limit": limit},
        ).scalars()
    )


# --- offers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewOffer:
    request_id: int
    provider_id: str
    role: LotRole
    stage: int
    round: int
    offered_at: datetime
    deadline: datetime


def insert_offers(conn: Connection, offers: Sequence[NewOffer]) -> list[Offer]:
    created = []
    for offer in offers:
        row = (
            conn.execute(
                text(
                    "insert into service_offer (request_id, provider_id, role, stage, round, "
                    "offered_at, deadline, status) values (:r, :p, :role, :stage, :round, :at, "
                    f":deadline, 'open') returning {_OFFER_COLUMNS}"
                ),
                {
                    "r": offer.request_id,
                    "p": offer.provider_id,
                    "role": offer.role.value,
                    "stage": offer.stage,
                    "round": offer.round,
                    "at": offer.offered_at,
                    "deadline": offer.deadline,
                },
            )
            .mappings()
            .one()
        )
        created.append(_offer(row))
    return created


def offers_of(conn: Connection, request_id: int) -> list[Offer]:
    rows = conn.execute(
        text(f"select {_OFFER_COLUMNS} from service_offer where request_id = :r order by id"),
        {"r": request_id},
    ).mappings()
    return [_offer(row) for row in rows]


def offers_of_requests(conn: Connection, request_ids: Collection[int]) -> dict[int, list[Offer]]:
    rows = conn.execute(
        text(
            f"select {_OFFER_COLUMNS} from service_offer where request_id = any(:ids) order by id"
        ),
        {"ids": list(request_ids)},
    ).mappings()
    found: dict[int, list[Offer]] = {}
    for row in rows:
        found.setdefault(row["request_id"], []).append(_offer(row))
    return found


def get_offer(conn: Connection, offer_id: int) -> Offer | None:
    row = (
        conn.execute(
            text(f"select {_OFFER_COLUMNS} from service_offer where id = :id"), {"id": offer_id}
        )
        .mappings()
        .first()
    )
    return _offer(row) if row else None


def provider_offers(
    conn: Connection,
    provider_id: str,
    statuses: Sequence[str],
    limit: int,
    offset: int,
    *,
    council_id: str | None = None,
) -> list[Offer]:
    """Open offers first (soonest deadline first), then the rest, newest first; `council_id`
    keeps those of that council's requests."""
    rows = conn.execute(
        text(
            f"select {_OFFER_COLUMNS} from service_offer o where provider_id = :p "
            "and (cardinality(cast(:statuses as text[])) = 0 or status = any(:statuses)) "
            "and (cast(:c as text) is null or exists (select 1 from service_request r "
            "where r.id = o.request_id and r.council_id = :c)) "
            "order by status <> 'open', case when status = 'open' then deadline end, "
            "offered_at desc, id desc limit :limit offset :offset"
        ),
        {
            "p": provider_id,
            "statuses": list(statuses),
            "c": council_id,
            "limit": limit,
            "offset": offset,
        },
    ).mappings()
    return [_offer(row) for row in rows]


def close_offers(
    conn: Connection,
    offer_ids: Collection[int],
    status: OfferStatus,
    now: datetime,
    by: str,
    *,
    reason: str | None = None,
    note: str | None = None,
) -> None:
    if offer_ids:
        conn.execute(
            text(
                "update service_offer set status = :s, decided_at = :now, decided_by = :by, "
                "decline_reason = :reason, decline_note = :note "
                "where id = any(:ids) and status = 'open'"
            ),
            {
                "s": status.value,
                "now": now,
                "by": by,
                "reason": reason,
                "note": note,
                "ids": list(offer_ids),
            },
        )


def record_view(conn: Connection, offer_id: int, now: datetime) -> None:
    conn.execute(
        text(
            "update service_offer set views = views + 1, "
            "first_viewed_at = coalesce(first_viewed_at, :now) where id = :id"
        ),
        {"now": now, "id": offer_id},
    )


# --- history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewEvent:
    request_id: int
    kind: EventKind
    at: datetime
    actor: str
    offer_id: int | None = None
    provider_id: str | None = None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class RequestEvent:
    id: int
    request_id: int
    offer_id: int | None
    provider_id: str | None
    at: datetime
    actor: str
    kind: EventKind
    detail: dict[str, Any]


def add_events(conn: Connection, events: Sequence[NewEvent]) -> None:
    if events:
        conn.execute(
            text(
                "insert into service_request_event (request_id, offer_id, provider_id, at, "
                "actor, kind, detail) values (:r, :o, :p, :at, :actor, :kind, "
                "cast(:detail as jsonb))"
            ),
            [
                {
                    "r": e.request_id,
                    "o": e.offer_id,
                    "p": e.provider_id,
                    "at": e.at,
                    "actor": e.actor,
                    "kind": e.kind.value,
                    "detail": json.dumps(e.detail or {}, default=str),
                }
                for e in events
            ],
        )


def events_of(
    conn: Connection, request_id: int, provider_id: str | None = None
) -> list[RequestEvent]:
    """The request's history, oldest first; for a provider, only the steps of its own offers."""
    rows = conn.execute(
        text(
            "select id, request_id, offer_id, provider_id, at, actor, kind, detail "
            "from service_request_event where request_id = :r "
            "and (cast(:p as text) is null or provider_id = :p) order by id"
        ),
        {"r": request_id, "p": provider_id},
    ).mappings()
    return [
        RequestEvent(
            id=row["id"],
            request_id=row["request_id"],
            offer_id=row["offer_id"],
            provider_id=row["provider_id"],
            at=row["at"],
            actor=row["actor"],
            kind=EventKind(row["kind"]),
            detail=row["detail"],
        )
        for row in rows
    ]


# --- imports ---------------------------------------------------------------------------------


def start_import(
    conn: Connection, council_id: str, imported_by: str, source: str, sha256: str, now: datetime
) -> int:
    import_id: int = conn.execute(
        text(
            "insert into request_import (council_id, imported_at, imported_by, source, sha256, "
            "rows_read, requests_created, requests_unchanged, rows_rejected) "
            "values (:c, :now, :by, :source, :sha, 0, 0, 0, 0) returning id"
        ),
        {"c": council_id, "now": now, "by": imported_by, "source": source, "sha": sha256},
    ).scalar_one()
    return import_id


def finish_import(
    conn: Connection, import_id: int, *, rows_read: int, created: int, unchanged: int, rejected: int
) -> None:
    conn.execute(
        text(
            "update request_import set rows_read = :read, requests_created = :created, "
            "requests_unchanged = :unchanged, rows_rejected = :rejected where id = :id"
        ),
        {
            "read": rows_read,
            "created": created,
            "unchanged": unchanged,
            "rejected": rejected,
            "id": import_id,
        },
    )


def lock_council_imports(conn: Connection, council_id: str) -> None:
    """Two imports of one file at once would both find a request new."""
    conn.execute(
        text("select pg_advisory_xact_lock(hashtext('ecm.requests.import'), hashtext(:c))"),
        {"c": council_id},
    )


# --- exports and monitoring ------------------------------------------------------------------


def decision_rows(
    conn: Connection,
    *,
    council_id: str | None,
    provider_id: str | None,
    start: datetime,
    end: datetime,
) -> list[RowMapping]:
    """Every offer made in [start, end), with its request, for decisions.csv."""
    return list(
        conn.execute(
            text(
                "select r.request_ref, r.lot_id, r.service_user_id, o.id as offer_id, "
                "o.provider_id, o.role, o.round, o.stage, o.offered_at, o.deadline, o.status, "
                "o.decided_at, o.decided_by, o.decline_reason, o.decline_note "
                "from service_offer o join service_request r on r.id = o.request_id "
                "where (cast(:c as text) is null or r.council_id = :c) "
                "and (cast(:p as text) is null or o.provider_id = :p) "
                "and o.offered_at >= :start and o.offered_at < :end order by o.id"
            ),
            {"c": council_id, "p": provider_id, "start": start, "end": end},
        ).mappings()
    )


def request_facts(
    conn: Connection, council_id: str, start: datetime, end: datetime
) -> list[RowMapping]:
    """Per request made in [start, end): what the monitoring needs to know about it."""
    return list(
        conn.execute(
            text(
                "select r.lot_id, r.created_at, r.placed_at, r.placed_role, r.visits, "
                "case when r.status = 'withdrawn' then r.closed_at end as withdrawn_at, "
                "exists (select 1 from service_offer o where o.request_id = r.id "
                "and o.role = 'lead') as lead_offered, "
                "exists (select 1 from service_offer o where o.request_id = r.id "
                "and o.role = 'lead' and o.status = 'accepted' and o.decided_at < o.deadline) "
                "as lead_accepted_in_time, "
                "array(select o.decline_reason from service_offer o where o.request_id = r.id "
                "and o.status = 'declined' order by o.id) as declines "
                "from service_request r where r.council_id = :c "
                "and r.created_at >= :start and r.created_at < :end order by r.id"
            ),
            {"c": council_id, "start": start, "end": end},
        ).mappings()
    )
