"""Visit rules: provider must exist; dates are London care days."""

from __future__ import annotations

from sqlalchemy import Connection

from api.events.schemas import EventScope
from api.pagination import split_page
from api.registry.service import require_provider
from api.visits import repository
from api.visits.schemas import VisitPage, VisitSummary


def list_visits(conn: Connection, scope: EventScope, *, limit: int, offset: int) -> VisitPage:
    require_provider(conn, scope.provider_id)
    rows = repository.list_visits(conn, scope, limit=limit + 1, offset=offset)
    items, next_offset = split_page(rows, limit, offset)
    return VisitPage(items=items, next_offset=next_offset)


def summarise_visits(conn: Connection, scope: EventScope) -> VisitSummary:
    require_provider(conn, scope.provider_id)
    return repository.summarise_visits(conn, scope)
