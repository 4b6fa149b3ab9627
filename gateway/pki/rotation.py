"""Device certificates before they expire: who is due, rotation with an overlap, and the end of
the overlap.

A rotation issues the device a new certificate while its current one stays valid for
`ECM_CERTIFICATE_ROTATION_OVERLAP_DAYS` (7): the old row gets `retires_at`, nothing changes at
the broker (the device's access rules follow its name, not its certificate, and no serial joins
the CRL), so the handset's live connection is never dropped. The handset moves to the new
certificate at its next reconnect, with its persistent session and outbox intact. Once the
overlap has passed, `retire_rotated` revokes the old certificate (reason `rotated`) and the
broker re-reads the CRL. Contrast `reissue`, which revokes at once and drops the connection: for
a lost or copied certificate, not for an expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from gateway.pki import certificate_store
from gateway.pki.authority import IssuedCertificate
from gateway.pki.devices import (
    DeviceCertificateError,
    DeviceCertificates,
    lock_certificates,
    require_device,
)

ROTATED = "rotated"


@dataclass(frozen=True)
class Expiring:
    device_id: str
    serial: int
    not_after: datetime


def expiring(conn: Connection, now: datetime, within_days: int) -> list[Expiring]:
    """Current certificates (live, not already being rotated) of active devices that expire
    within `within_days`, soonest first."""
    rows = certificate_store.expiring(conn, now, now + timedelta(days=within_days))
    return [Expiring(row[0], int(row[1]), row[2]) for row in rows]


@dataclass(frozen=True)
class ExpirySummary:
    live: int
    expiring: int
    earliest: datetime | None


def expiry_summary(conn: Connection, now: datetime, within_days: int) -> ExpirySummary:
    live, soon, earliest = certificate_store.expiry_summary(
        conn, now, now + timedelta(days=within_days)
    )
    return ExpirySummary(int(live), int(soon), earliest)


def rotate(
    conn: Connection,
    certificates: DeviceCertificates,
    device_id: str,
    now: datetime,
    overlap_days: int,
) -> IssuedCertificate:
    """A new certificate for the device; the current one stays valid until now + overlap."""
    lock_certificates(conn)
    require_device(conn, device_id)
    current = certificate_store.start_retiring(
        conn, device_id, now, now + timedelta(days=overlap_days)
    )
    if not current:
        raise DeviceCertificateError(
            f"device {device_id} has no live certificate to rotate; use provision or reissue"
        )
    return certificates.issue_unchecked(conn, device_id)


def retire_rotated(
    conn: Connection, certificates: DeviceCertificates, now: datetime
) -> list[tuple[str, int]]:
    """Revoke the old certificates of rotations whose overlap has ended, and publish the CRL."""
    lock_certificates(conn)
    retired = certificate_store.revoke_retired(conn, now, ROTATED)
    if retired:
        certificates.publish_crl(conn)
    return [(row[0], int(row[1])) for row in retired]
