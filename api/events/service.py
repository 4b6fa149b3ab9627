"""Event listing rules: provider must exist; dates are London care days."""

from __future__ import annotations

from sqlalchemy import Connection

from api.events import repository
from api.events.schemas import EventPage, EventScope, QuarantinePage
from api.pagination import split_page
from gateway.registry.queries import require_provider


def list_events(conn: Connection, scope: EventScope, *, limit: int, offset: int) -> EventPage:
    require_provider(conn, scope.provider_id)
    rows = repository.list_events(conn, scope, limit=limit + 1, offset=offset)
    items, next_offset = split_page(rows, limit, offset)
    return EventPage(items=items, next_offset=next_offset)


def list_quarantined(
    conn: Connection, reason: str | None, *, limit: int, offset: int
) -> QuarantinePage:
    rows = repository.list_quarantined(conn, reason, limit=limit + 1, offset=offset)
    items, next_offset = split_page(rows, limit, offset)
    return QuarantinePage(items=items, next_offset=next_offset)
