"""The registry rows ingest reads: devices, carers, and each home with its tag and fob.

Read only; the registry (gateway/registry) owns the writes. ingest/directory.py caches what it
reads here, and ingest/homes.py opens the homes' sealed secrets. The caller owns the transaction
(ingest's connection is in autocommit: each read of several tables is wrapped in one).
"""

from __future__ import annotations

from typing import Any

import psycopg

DeviceRow = tuple[str, str, str, str, str]  # id, provider_id, public_key, status, kind

_DEVICES = "select id, provider_id, public_key, status, kind from device"
_HOMES = "select id, home_lat, home_lon, geofence_m, landline from service_user"
_TAGS = (
    "select uid, service_user_id, keys_wrapped_key, keys_ciphertext, kek_id, "
    "retired_at is not null from home_tag"
)
_FOBS = (
    "select service_user_id, secret_wrapped_key, secret_ciphertext, kek_id, digits, step_s, "
    "window_steps from home_code_device where retired_at is null"
)


def devices_and_carers(
    conn: psycopg.Connection,
) -> tuple[list[DeviceRow], list[tuple[str, str]]]:
    """Every device and every carer with their provider."""
    devices = conn.execute(_DEVICES).fetchall()
    carers = conn.execute("select id, provider_id from carer").fetchall()
    return devices, carers


def device(conn: psycopg.Connection, device_id: str) -> DeviceRow | None:
    row: DeviceRow | None = conn.execute(_DEVICES + " where id = %s", (device_id,)).fetchone()
    return row


def carer_provider(conn: psycopg.Connection, carer_id: str) -> str | None:
    row = conn.execute("select provider_id from carer where id = %s", (carer_id,)).fetchone()
    return row[0] if row else None


def home_rows(
    conn: psycopg.Connection, service_user_id: str | None = None
) -> tuple[list[Any], list[Any], list[Any]]:
    """Every home (or one): its position rows, its tags' sealed keys (retired ones included)
    and its active fob's sealed secret."""
    where, args = ("", ()) if service_user_id is None else (" where id = %s", (service_user_id,))
    tag_where = "" if service_user_id is None else " where service_user_id = %s"
    fob_where = "" if service_user_id is None else " and service_user_id = %s"
    homes = conn.execute(_HOMES + where, args).fetchall()
    tags = conn.execute(_TAGS + tag_where, args).fetchall()
    fobs = conn.execute(_FOBS + fob_where, args).fetchall()
    return homes, tags, fobs
