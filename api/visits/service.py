"""Visit rules: provider must exist; dates are London care days."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from api.events.schemas import EventScope
from api.pagination import split_page
from api.registry.service import require_provider
from api.times import london_day
from api.visits import repository
from api.visits.schemas import VisitPage, VisitSummary


def list_visits(
    conn: Connection, scope: EventScope, day: date | None, *, limit: int, offset: int
) -> VisitPage:
    require_provider(conn, scope.provider_id)
    window = london_day(day) if day is not None else None
    rows = repository.list_visits(conn, scope, window, limit=limit + 1, offset=offset)
    items, next_offset = split_page(rows, limit, offset)
    return VisitPage(items=items, next_offset=next_offset)


def summarise_visits(conn: Connection, scope: EventScope, day: date | None) -> VisitSummary:
    require_provider(conn, scope.provider_id)
    window = london_day(day) if day is not None else None
    return repository.summarise_visits(conn, scope, window)
