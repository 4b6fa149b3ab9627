"""All SQL of finding people by name or code: the service users a provider cares for (its
planned visits and visits), its carers, and a council's service users. Callers own the
transaction."""

from __future__ import annotations

from sqlalchemy import Connection, text

_MATCH = "(cast(:q as text) = '' or {name} ilike :pattern or {id} ilike :pattern)"


def _pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def provider_service_users(
    conn: Connection, provider_id: str, q: str, limit: int
) -> list[tuple[str, str]]:
    """(id, name) of the service users the provider has planned visits or visits for whose
    name or id contains `q` (any case), by name."""
    rows = conn.execute(
        text(
            "select su.id, su.name from service_user su where su.id in ("
            "select service_user_id from planned_visit_version where provider_id = :p "
            "union select service_user_id from visit "
            "where provider_id = :p and service_user_id is not null) and "
            + _MATCH.format(name="su.name", id="su.id")
            + " order by su.name, su.id limit :limit"
        ),
        {"p": provider_id, "q": q, "pattern": _pattern(q), "limit": limit},
    )
    return [(row[0], row[1]) for row in rows]


def provider_carers(
    conn: Connection, provider_id: str, q: str, limit: int
) -> list[tuple[str, str]]:
    rows = conn.execute(
        text(
            "select id, name from carer where provider_id = :p and "
            + _MATCH.format(name="name", id="id")
            + " order by name, id limit :limit"
        ),
        {"p": provider_id, "q": q, "pattern": _pattern(q), "limit": limit},
    )
    return [(row[0], row[1]) for row in rows]


def council_service_users(
    conn: Connection, council_id: str, q: str, limit: int
) -> list[tuple[str, str]]:
    rows = conn.execute(
        text(
            "select id, name from service_user where council_id = :c and "
            + _MATCH.format(name="name", id="id")
            + " order by name, id limit :limit"
        ),
        {"c": council_id, "q": q, "pattern": _pattern(q), "limit": limit},
    )
    return [(row[0], row[1]) for row in rows]
