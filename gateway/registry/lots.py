"""Lot lineups: who is offered a lot's service requests, effective-dated.

A lineup starts on its `effective_from` and is in force until the next lineup of the lot starts;
contracts change by adding a lineup from a later date, so the history of who held which role
when is kept. Setting a lineup that starts on a date that already has one replaces it, but only
while that date is still in the future (London time): a lineup in force or past is history,
and changing it would change what earlier offers were based on.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from gateway.registry import lot_repository, repository
from gateway.registry.schemas import Lot

LONDON = ZoneInfo("Europe/London")


class LotError(ValueError):
    """A lineup naming a council or provider the registry lacks."""


class LineupInForce(LotError):
    """A different lineup already starts on that date, which is today or past."""


def same_lineup(a: Lot, b: Lot) -> bool:
    return (a.lead, a.additional, a.dps) == (b.lead, b.additional, b.dps)


def set_lineup(conn: Connection, lot: Lot, *, set_by: str, now: datetime) -> bool:
    """Write the lot (its name) and its lineup from `lot.effective_from`; False when that
    lineup was already there as given."""
    if not repository.council_exists(conn, lot.council_id):
        raise LotError(f"lot {lot.id} names unknown council {lot.council_id}")
    unknown = lot_repository.unknown_providers(conn, lot.providers)
    if unknown:
        raise LotError(f"lot {lot.id} names unknown provider(s) {', '.join(unknown)}")
    lot_repository.upsert_lot(conn, lot.council_id, lot.id, lot.name)
    lot_repository.lock_lot(conn, lot.council_id, lot.id)
    existing = lot_repository.lineup_at(conn, lot.council_id, lot.id, lot.effective_from)
    if existing is not None:
        if same_lineup(existing, lot):
            return False
        if lot.effective_from <= now.astimezone(LONDON).date():
            raise LineupInForce(
                f"lot {lot.id} already has a different lineup from {lot.effective_from}, "
                "which is in force or past; set the new lineup from a later date"
            )
    lot_repository.replace_lineup(conn, lot, set_by, now)
    lot_repository.ensure_commissions(conn, lot.council_id, lot.providers)
    return True
