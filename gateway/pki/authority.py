"""The gateway's own certificate authority: one ECDSA P-256 key that signs every MQTT identity.

Handsets, the broker and the services (ingest, api) all present certificates it issued; the
broker trusts nothing else. The CA key is written encrypted under a key derived from
settings.master_key (mode 0600), so a copy of the state folder alone cannot mint identities.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# A device id is also the certificate CN and the MQTT username, so it must never be able to
# name a wildcard, a topic level or a service. Same rule as the registry's device ids.
DEVICE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Service identities carry a colon, which no device id can, so the two never collide.
SERVICE_PREFIX = "svc:"
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

CA_DAYS = 3650
SERVER_DAYS = 825
CLIENT_DAYS = 397
# Backdating absorbs small clock differences between the gateway and a handset.
BACKDATE = timedelta(minutes=5)


class PkiError(ValueError):
    pass


def service_cn(name: str) -> str:
    if not SERVICE_NAME.match(name):
        raise PkiError(f"bad service name {name!r}")
    return SERVICE_PREFIX + name


def check_device_id(device_id: str) -> str:
    if not DEVICE_ID.match(device_id):
        raise PkiError(f"device id {device_id!r} must match {DEVICE_ID.pattern}")
    return device_id


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its private key, as the holder receives them (once)."""

    common_name: str
    serial: int
    not_before: datetime
    not_after: datetime
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def pkcs12(self, password: str, ca: x509.Certificate) -> bytes:
        """PKCS#12 bundle (key, certificate and the CA), as phones import client identities."""
        return pkcs12.serialize_key_and_certificates(
            name=self.common_name.encode(),
            key=self.key,
            cert=self.certificate,
            cas=[ca],
            encryption_algorithm=serialization.BestAvailableEncryption(password.encode()),
        )

    def write(self, cert_file: Path, key_file: Path) -> None:
        cert_file.parent.mkdir(parents=True, exist_ok=True)
        cert_file.write_text(self.cert_pem)
        write_secret(key_file, self.key_pem.encode())


def generate_password() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(15)).decode()


def write_secret(path: Path, data: bytes) -> None:
    """Create the file 0600 from the start: never a moment where others may read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _key_password(master_key: str) -> bytes:
    # HKDF rather than the raw master key: the same master key also wraps tag keys, and each use
    # gets its own derived secret.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ecm pki ca key").derive(
        master_key.encode()
    )


class CertificateAuthority:
    """The CA held in a folder: ca.pem (public) and ca.key (encrypted, 0600)."""

    def __init__(self, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.certificate = certificate
        self._key = key

    @staticmethod
    def paths(folder: Path) -> tuple[Path, Path]:
        return folder / "ca.pem", folder / "ca.key"

    @classmethod
    def exists(cls, folder: Path) -> bool:
        return all(path.exists() for path in cls.paths(folder))

    @classmethod
    def load(cls, folder: Path, master_key: str) -> CertificateAuthority:
        cert_file, key_file = cls.paths(folder)
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
        try:
            key = serialization.load_pem_private_key(
                key_file.read_bytes(), password=_key_password(master_key)
            )
        except ValueError:
            raise PkiError(f"cannot decrypt {key_file}: wrong ECM_MASTER_KEY?") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError(f"{key_file} is not an EC key")
        return cls(certificate, key)

    @classmethod
    def create(
        cls, folder: Path, master_key: str, name: str = "ECM gateway CA"
    ) -> CertificateAuthority:
        cert_file, key_file = cls.paths(folder)
        if cert_file.exists() or key_file.exists():
            raise PkiError(f"a CA already exists in {folder}")
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ECM"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        folder.mkdir(parents=True, exist_ok=True)
        encrypted = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(_key_password(master_key)),
        )
        write_secret(key_file, encrypted)
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(certificate, key)

    @classmethod
    def load_or_create(cls, folder: Path, master_key: str) -> CertificateAuthority:
        if cls.exists(folder):
            return cls.load(folder, master_key)
        return cls.create(folder, master_key)

    @property
    def cert_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def issue_device(self, device_id: str, days: int = CLIENT_DAYS) -> IssuedCertificate:
        return self._issue_client(check_device_id(device_id), days)

    def issue_service(self, name: str, days: int = CLIENT_DAYS) -> IssuedCertificate:
        return self._issue_client(service_cn(name), days)

    def issue_server(self, hostnames: list[str], days: int = SERVER_DAYS) -> IssuedCertificate:
        names: list[x509.GeneralName] = []
        for host in dict.fromkeys(["localhost", "127.0.0.1", *hostnames]):
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        return self._issue(
            hostnames[0] if hostnames else "localhost",
            days,
            ExtendedKeyUsageOID.SERVER_AUTH,
            x509.SubjectAlternativeName(names),
        )

    def _issue_client(self, common_name: str, days: int) -> IssuedCertificate:
        return self._issue(common_name, days, ExtendedKeyUsageOID.CLIENT_AUTH, None)

    def _issue(
        self,
        common_name: str,
        days: int,
        usage: x509.ObjectIdentifier,
        san: x509.SubjectAlternativeName | None,
    ) -> IssuedCertificate:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC).replace(microsecond=0)
        not_before, not_after = now - BACKDATE, now + timedelta(days=days)
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        return IssuedCertificate(common_name, serial, not_before, not_after, certificate, key)

    def crl(self, revoked: list[tuple[int, datetime]], next_update_days: int = 365) -> bytes:
        """A signed CRL (PEM) listing the revoked serials. Rebuilt whole on every change."""
        now = datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now - BACKDATE)
            .next_update(now + timedelta(days=next_update_days))
        )
        for serial, revoked_at in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(revoked_at)
                .build()
            )
        crl = builder.sign(self._key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.PEM)
