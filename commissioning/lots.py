"""A council's lots and commissioning settings, as its officers manage them.

Lots live in the registry (gateway.registry.lots: seedable from the registry file, history kept
by effective date); this is the council's door to them, with the council's access rules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from commissioning import repository as store
from commissioning.access import acting_council
from commissioning.model import Policy
from commissioning.packages import london_today
from commissioning.views import CommissioningPolicy, LotLineup, LotSet
from commissioning.views import CouncilLot as LotView
from commissioning.views import Lineup as LineupView
from core.access import Scope
from core.errors import Conflict, NotFound, Unprocessable
from gateway.registry import Lot, lot_repository
from gateway.registry import repository as registry_repository
from gateway.registry.lots import LineupInForce, LotError, set_lineup


def _view(history: list[Lot], now: datetime) -> LotView:
    today = london_today(now)
    lineups = [
        LineupView(
            effective_from=lot.effective_from, lead=lot.lead, additional=lot.additional, dps=lot.dps
        )
        for lot in history
    ]
    in_force = [lineup for lineup in lineups if lineup.effective_from <= today]
    last = history[-1]
    return LotView(
        council_id=last.council_id,
        id=last.id,
        name=last.name,
        in_force=in_force[-1] if in_force else None,
        lineups=lineups,
    )


def list_lots(conn: Connection, caller: Scope, council_id: str, *, now: datetime) -> list[LotView]:
    acting_council(caller, council_id)
    by_lot: dict[str, list[Lot]] = {}
    for lot in lot_repository.lineups(conn, council_id):
        by_lot.setdefault(lot.id, []).append(lot)
    return [_view(history, now) for history in by_lot.values()]


def get_lot(
    conn: Connection, caller: Scope, council_id: str, lot_id: str, *, now: datetime
) -> LotView:
    acting_council(caller, council_id)
    history = lot_repository.lineups(conn, council_id, lot_id)
    if not history:
        raise NotFound(f"lot {lot_id} not found")
    return _view(history, now)


def set_lot(
    conn: Connection,
    caller: Scope,
    council_id: str,
    lot_id: str,
    body: LotLineup,
    *,
    now: datetime,
) -> LotSet:
    acting_council(caller, council_id)
    try:
        lot = Lot(council_id=council_id, id=lot_id, **body.model_dump())
    except ValueError as exc:
        raise Unprocessable(str(exc), code="lot_invalid") from None
    try:
        changed = set_lineup(conn, lot, set_by=caller.subject, now=now)
    except LineupInForce as exc:
        raise Conflict(str(exc), code="lineup_in_force") from None
    except LotError as exc:
        raise Unprocessable(str(exc), code="lot_invalid") from None
    return LotSet(lot=get_lot(conn, caller, council_id, lot_id, now=now), changed=changed)


def get_policy(conn: Connection, caller: Scope, council_id: str) -> CommissioningPolicy:
    acting_council(caller, council_id)
    policy = store.get_policy(conn, council_id) or Policy()
    return CommissioningPolicy(
        response_working_hours=policy.response_working_hours,
        additional_mode=policy.additional_mode,
        dps_mode=policy.dps_mode,
    )


def set_policy(
    conn: Connection, caller: Scope, council_id: str, body: CommissioningPolicy
) -> CommissioningPolicy:
    acting_council(caller, council_id)
    if not registry_repository.council_exists(conn, council_id):
        raise NotFound(f"council {council_id} not found")
    store.set_policy(
        conn,
        council_id,
        Policy(
            response_working_hours=body.response_working_hours,
            additional_mode=body.additional_mode,
            dps_mode=body.dps_mode,
        ),
    )
    return body
