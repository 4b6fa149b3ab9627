"""Handset certificates: provision, re-issue, revoke, list, and bring the broker in line.

The database (device_certificate, device.status) is the record; the broker is made to agree
with it inside the same transaction, fail-closed: a revocation reaches the broker before the
transaction commits, so no committed revocation is ever missing from the CRL. Every change takes
one advisory lock, so two concurrent changes never write CRLs that miss each other's serials.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from sqlalchemy import Connection

from core.settings import Settings
from gateway.pki import certificate_store
from gateway.pki.authority import CertificateAuthority, IssuedCertificate, check_device_id
from gateway.pki.broker import BrokerAccess, reload_broker
from gateway.pki.identity import TlsIdentity, device_identity, service_identity
from gateway.pki.layout import PkiLayout, pki_layout, write_crl
from gateway.pki.nats_access import NatsAccess, local_nats_access

LOCK_KEY = int.from_bytes(hashlib.sha256(b"ecm.pki.device_certificate").digest()[:4], "big")
SUPERSEDED = "superseded"


class DeviceCertificateError(ValueError):
    pass


class DeviceNotFound(DeviceCertificateError):
    pass


@dataclass(frozen=True)
class CertificateRecord:
    serial: int
    device_id: str
    fingerprint_sha256: str
    issued_at: datetime
    not_after: datetime
    revoked_at: datetime | None
    reason: str | None
    # Set on the previous certificate during a rotation: valid until then (gateway.pki.rotation).
    retires_at: datetime | None = None

    @property
    def live(self) -> bool:
        return self.revoked_at is None and self.not_after > datetime.now(UTC)


@dataclass
class DeviceCertificates:
    """The CA plus the broker it protects, for one deployment (settings)."""

    settings: Settings
    # The broker-admin identity: `admin` for the CLI, `api` for the API.
    role: str = "admin"

    @property
    def layout(self) -> PkiLayout:
        return pki_layout(self.settings.state_dir)

    def authority(self) -> CertificateAuthority:
        if not CertificateAuthority.exists(self.layout.root):
            raise DeviceCertificateError(
                f"no certificate authority in {self.layout.root}: run `ecm pki init` first"
            )
        return CertificateAuthority.load(self.layout.root, self.settings.master_key)

    def broker(self) -> BrokerAccess | NatsAccess:
        if self.settings.broker == "nats":
            # The cluster's user list, regenerated and reloaded in place (docs/scaling.md).
            return local_nats_access(self.settings.state_dir)
        identity = service_identity(self.settings, self.role)
        return BrokerAccess(self.settings.mqtt_host, self.settings.mqtt_port, identity)

    @property
    def broker_pid_file(self) -> Path:
        return self.settings.state_dir / "mqtt" / "mosquitto.pid"

    def provision(self, conn: Connection, device_id: str) -> IssuedCertificate:
        """First certificate (or a new one after a revocation). Refused while one is live."""
        return self.provision_many(conn, [device_id])[device_id]

    def provision_many(
        self, conn: Connection, device_ids: list[str]
    ) -> dict[str, IssuedCertificate]:
        """Provision several devices with one broker round trip (a simulated council, a batch
        of new phones)."""
        _lock(conn)
        ca = self.authority()  # decrypted once per batch, not per device
        issued: dict[str, IssuedCertificate] = {}
        for device_id in device_ids:
            _require_device(conn, device_id)
            if any(record.live for record in list_certificates(conn, device_id)):
                raise DeviceCertificateError(
                    f"device {device_id} already has a live certificate; use reissue"
                )
            issued[device_id] = self._issue(conn, ca, device_id)
        with self.broker() as broker:
            broker.allow_devices(device_ids)
        return issued

    def provision_local(self, conn: Connection, device_ids: list[str]) -> dict[str, TlsIdentity]:
        """`provision_many`, with each certificate and key written under <state>/pki/devices, as
        `ecm devices provision --local` does for handsets this machine simulates."""
        issued = self.provision_many(conn, device_ids)
        for device_id, certificate in issued.items():
            certificate.write(*self.layout.device_cert(device_id))
        return {
            device_id: device_identity(
                self.settings.state_dir, device_id, self.settings.mqtt_ca_file
            )
            for device_id in device_ids
        }

    def reissue(self, conn: Connection, device_id: str) -> IssuedCertificate:
        """A new certificate; the old one is revoked and its live connection dropped."""
        _lock(conn)
        _require_device(conn, device_id)
        _revoke_live(conn, device_id, SUPERSEDED)
        issued = self._issue(conn, self.authority(), device_id)
        self._publish_crl(conn)
        with self.broker() as broker:
            # Deleting the client drops whoever is connected with the old certificate now.
            broker.remove_devices([device_id])
            broker.allow_devices([device_id])
        return issued

    def revoke(self, conn: Connection, device_id: str, reason: str = "revoked") -> int:
        """Revoke every live certificate and mark the device revoked. Returns how many."""
        _lock(conn)
        _require_device(conn, device_id)
        count = _revoke_live(conn, device_id, reason)
        certificate_store.set_device_status(conn, device_id, "revoked")
        self._publish_crl(conn)
        with self.broker() as broker:
            broker.remove_devices([device_id])
        return count

    def sync(self, conn: Connection) -> tuple[int, int]:
        """Bring the broker in line with the database: CRL, and who may connect. Idempotent."""
        _lock(conn)
        self._publish_crl(conn)
        rows = certificate_store.devices_allowed(conn)
        allowed = [row[0] for row in rows if row[1]]
        refused = [row[0] for row in rows if not row[1]]
        with self.broker() as broker:
            broker.remove_devices(refused)
            broker.allow_devices(allowed)
            broker.update_roles(allowed)
        return len(allowed), len(refused)

    def issue_unchecked(self, conn: Connection, device_id: str) -> IssuedCertificate:
        """Issue and record a certificate without looking at the device's others (a rotation
        has already set the current one to retire). The caller holds the lock."""
        return self._issue(conn, self.authority(), device_id)

    def publish_crl(self, conn: Connection) -> None:
        self._publish_crl(conn)

    def _issue(
        self, conn: Connection, ca: CertificateAuthority, device_id: str
    ) -> IssuedCertificate:
        issued = ca.issue_device(device_id)
        certificate_store.insert_certificate(
            conn,
            serial=issued.serial,
            device_id=device_id,
            fingerprint=issued.certificate.fingerprint(hashes.SHA256()).hex(),
            issued_at=issued.not_before,
            not_after=issued.not_after,
        )
        certificate_store.set_device_status(conn, device_id, "active")
        return issued

    def _publish_crl(self, conn: Connection) -> None:
        # Expired certificates fail on their own; listing them only grows the CRL.
        revoked = certificate_store.revoked_unexpired(conn)
        write_crl(self.layout, self.authority(), [(int(s), at) for s, at in revoked])
        reload_broker(self.broker_pid_file)


def _lock(conn: Connection) -> None:
    certificate_store.lock(conn, LOCK_KEY)


lock_certificates = _lock


def _require_device(conn: Connection, device_id: str) -> None:
    check_device_id(device_id)
    if not certificate_store.device_exists(conn, device_id):
        raise DeviceNotFound(f"device {device_id} is not in the registry")


require_device = _require_device


def _revoke_live(conn: Connection, device_id: str, reason: str) -> int:
    return certificate_store.revoke_live(conn, device_id, reason)


def list_certificates(conn: Connection, device_id: str) -> list[CertificateRecord]:
    rows = certificate_store.certificates_of(conn, device_id)
    return [CertificateRecord(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]
