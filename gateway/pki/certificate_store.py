"""All SQL of device certificates (device_certificate) and the device status they drive.
Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text


def lock(conn: Connection, key: int) -> None:
    """Certificate changes one at a time, to commit."""
    conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": key})


def device_exists(conn: Connection, device_id: str) -> bool:
    found = conn.execute(text("select 1 from device where id = :d"), {"d": device_id})
    return found.first() is not None


def set_device_status(conn: Connection, device_id: str, status: str) -> None:
    conn.execute(
        text("update device set status = :status where id = :d"),
        {"d": device_id, "status": status},
    )


def insert_certificate(
    conn: Connection,
    *,
    serial: int,
    device_id: str,
    fingerprint: str,
    issued_at: datetime,
    not_after: datetime,
) -> None:
    conn.execute(
        text(
            "insert into device_certificate "
            "(serial, device_id, fingerprint_sha256, issued_at, not_after) "
            "values (:serial, :device_id, :fingerprint, :issued_at, :not_after)"
        ),
        {
            "serial": serial,
            "device_id": device_id,
            "fingerprint": fingerprint,
            "issued_at": issued_at,
            "not_after": not_after,
        },
    )


def revoke_live(conn: Connection, device_id: str, reason: str) -> int:
    """Revoke the device's live certificates; returns how many."""
    result = conn.execute(
        text(
            "update device_certificate set revoked_at = now(), reason = :reason "
            "where device_id = :d and revoked_at is null"
        ),
        {"d": device_id, "reason": reason},
    )
    return result.rowcount


def devices_allowed(conn: Connection) -> Sequence[Any]:
    """(device id, allowed): active with a live, unexpired certificate."""
    return conn.execute(
        text(
            "select d.id, d.status = 'active' and exists (select 1 from device_certificate c "
            "where c.device_id = d.id and c.revoked_at is null and c.not_after > now()) "
            "from device d"
        )
    ).all()


def revoked_unexpired(conn: Connection) -> Sequence[Any]:
    """(serial, revoked_at) of revoked certificates not yet expired, the CRL's entries."""
    return conn.execute(
        text(
            "select serial, revoked_at from device_certificate "
            "where revoked_at is not null and not_after > now() order by revoked_at"
        )
    ).all()


def certificates_of(conn: Connection, device_id: str) -> Sequence[Any]:
    return conn.execute(
        text(
            "select serial, device_id, fingerprint_sha256, issued_at, not_after, revoked_at, "
            "reason, retires_at from device_certificate where device_id = :d "
            "order by issued_at, serial"
        ),
        {"d": device_id},
    ).all()


# Rotation and expiry (gateway.pki.rotation) ------------------------------------------------------


def expiring(conn: Connection, now: datetime, horizon: datetime) -> Sequence[Any]:
    """(device, serial, not_after) of current certificates of active devices expiring by
    `horizon`, soonest first."""
    return conn.execute(
        text(
            "select c.device_id, c.serial, c.not_after from device_certificate c "
            "join device d on d.id = c.device_id and d.status = 'active' "
            "where c.revoked_at is null and c.retires_at is null and c.not_after > :now "
            "and c.not_after <= :horizon order by c.not_after, c.device_id"
        ),
        {"now": now, "horizon": horizon},
    ).all()


def expiry_summary(conn: Connection, now: datetime, horizon: datetime) -> Any:
    """(live, expiring by horizon, earliest expiry) of current certificates."""
    return conn.execute(
        text(
            "select count(*), count(*) filter (where not_after <= :horizon), min(not_after) "
            "from device_certificate where revoked_at is null and retires_at is null "
            "and not_after > :now"
        ),
        {"now": now, "horizon": horizon},
    ).one()


def start_retiring(conn: Connection, device_id: str, now: datetime, retires: datetime) -> int:
    """The device's current certificate stays valid until `retires` (or its own expiry)."""
    return conn.execute(
        text(
            "update device_certificate set retires_at = least(not_after, :retires) "
            "where device_id = :d and revoked_at is null and retires_at is null "
            "and not_after > :now"
        ),
        {"d": device_id, "now": now, "retires": retires},
    ).rowcount


def revoke_retired(conn: Connection, now: datetime, reason: str) -> Sequence[Any]:
    """Revoke certificates whose rotation overlap ended by `now`; (device, serial) of each."""
    return conn.execute(
        text(
            "update device_certificate set revoked_at = now(), reason = :reason "
            "where revoked_at is null and retires_at is not null and retires_at <= :now "
            "returning device_id, serial"
        ),
        {"now": now, "reason": reason},
    ).all()
