"""All registry SQL. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from gateway.registry.schemas import (
    Carer,
    Commission,
    Council,
    Device,
    Provider,
    ServiceUser,
    TelephonyNumber,
)

_UPSERT = {
    "council": (
        "insert into council (id, name) values (:id, :name) "
        "on conflict (id) do update set name = excluded.name"
    ),
    "commission": (
        "insert into commission (council_id, provider_id, lot) "
        "values (:council_id, :provider_id, :lot) "
        "on conflict (council_id, provider_id) do update set lot = excluded.lot"
    ),
    "provider": (
        "insert into provider (id, name) values (:id, :name) "
        "on conflict (id) do update set name = excluded.name"
    ),
    "carer": (
        "insert into carer (id, provider_id, name, carer_number) "
        "values (:id, :provider_id, :name, :carer_number) "
        "on conflict (id) do update set provider_id = excluded.provider_id, "
        "name = excluded.name, carer_number = excluded.carer_number"
    ),
    "device": (
        "insert into device (id, provider_id, public_key, status, kind) "
        "values (:id, :provider_id, :public_key, :status, :kind) "
        "on conflict (id) do update set provider_id = excluded.provider_id, "
        "public_key = excluded.public_key, status = excluded.status, kind = excluded.kind"
    ),
    "service_user": (
        "insert into service_user "
        "(id, name, home_lat, home_lon, geofence_m, home_tag_uid, council_id, landline) "
        "values (:id, :name, :home_lat, :home_lon, :geofence_m, :home_tag_uid, :council_id, "
        ":landline) "
        "on conflict (id) do update set name = excluded.name, home_lat = excluded.home_lat, "
        "home_lon = excluded.home_lon, geofence_m = excluded.geofence_m, "
        "home_tag_uid = excluded.home_tag_uid, council_id = excluded.council_id, "
        "landline = excluded.landline"
    ),
    "telephony_number": (
        "insert into telephony_number (number, provider_id) values (:number, :provider_id) "
        "on conflict (number) do update set provider_id = excluded.provider_id"
    ),
}


def _upsert(conn: Connection, table: str, rows: Sequence[dict[str, Any]]) -> int:
    if rows:
        conn.execute(text(_UPSERT[table]), list(rows))
    return len(rows)


def upsert_councils(conn: Connection, councils: Sequence[Council]) -> int:
    return _upsert(conn, "council", [c.model_dump() for c in councils])


def upsert_commissions(conn: Connection, commissions: Sequence[Commission]) -> int:
    return _upsert(conn, "commission", [c.model_dump() for c in commissions])


def list_councils(conn: Connection) -> list[Council]:
    rows = conn.execute(text("select id, name from council order by id")).mappings()
    return [Council(**row) for row in rows]


def list_commissions(conn: Connection, council_id: str | None = None) -> list[Commission]:
    rows = conn.execute(
        text(
            "select council_id, provider_id, lot from commission "
            "where cast(:c as text) is null or council_id = :c order by council_id, provider_id"
        ),
        {"c": council_id},
    ).mappings()
    return [Commission(**row) for row in rows]


def upsert_providers(conn: Connection, providers: Sequence[Provider]) -> int:
    return _upsert(conn, "provider", [p.model_dump() for p in providers])


def upsert_carers(conn: Connection, carers: Sequence[Carer]) -> int:
    return _upsert(conn, "carer", [c.model_dump() for c in carers])


def upsert_devices(conn: Connection, devices: Sequence[Device]) -> int:
    return _upsert(conn, "device", [d.model_dump() for d in devices])


def upsert_service_users(conn: Connection, service_users: Sequence[ServiceUser]) -> int:
    return _upsert(conn, "service_user", [s.model_dump() for s in service_users])


def upsert_telephony_numbers(conn: Connection, numbers: Sequence[TelephonyNumber]) -> int:
    return _upsert(conn, "telephony_number", [n.model_dump() for n in numbers])


def list_providers(conn: Connection) -> list[Provider]:
    rows = conn.execute(text("select id, name from provider order by id")).mappings()
    return [Provider(**row) for row in rows]


def get_provider(conn: Connection, provider_id: str) -> Provider | None:
    row = (
        conn.execute(text("select id, name from provider where id = :id"), {"id": provider_id})
        .mappings()
        .first()
    )
    return Provider(**row) if row else None


def list_carers(conn: Connection, provider_id: str) -> list[Carer]:
    rows = conn.execute(
        text(
            "select id, provider_id, name, carer_number from carer "
            "where provider_id = :p order by id"
        ),
        {"p": provider_id},
    ).mappings()
    return [Carer(**row) for row in rows]


def list_devices(conn: Connection, provider_id: str) -> list[Device]:
    rows = conn.execute(
        text(
            "select id, provider_id, public_key, status, kind from device "
            "where provider_id = :p order by id"
        ),
        {"p": provider_id},
    ).mappings()
    return [Device(**row) for row in rows]


def list_service_users(conn: Connection) -> list[ServiceUser]:
    rows = conn.execute(
        text(
            "select id, name, home_lat, home_lon, geofence_m, home_tag_uid, council_id, "
            "landline from service_user order by id"
        )
    ).mappings()
    return [ServiceUser(**row) for row in rows]


def council_exists(conn: Connection, council_id: str) -> bool:
    found = conn.execute(text("select 1 from council where id = :id"), {"id": council_id})
    return found.first() is not None


def device_exists(conn: Connection, device_id: str) -> bool:
    found = conn.execute(text("select 1 from device where id = :id"), {"id": device_id})
    return found.first() is not None


def home_location(conn: Connection, service_user_id: str) -> tuple[float, float, float] | None:
    """The home's (lat, lon, geofence_m), or None when it has no location on record."""
    row = conn.execute(
        text("select home_lat, home_lon, geofence_m from service_user where id = :id"),
        {"id": service_user_id},
    ).first()
    if row is None or row.home_lat is None or row.home_lon is None:
        return None
    return (row.home_lat, row.home_lon, row.geofence_m)
