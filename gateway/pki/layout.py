"""Where the gateway's PKI files live under the state folder, and their first-time creation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.pki.authority import CertificateAuthority, write_secret

# The service identities the local stack issues. `admin` changes broker access (the CLI's
# `ecm devices`); `operator` may publish on any device's topic and read every event: tests and
# manual diagnosis need it, production never issues it (see docs/identity.md).
SERVICES = ("ingest", "api", "admin")
DEV_SERVICES = (*SERVICES, "operator")


@dataclass(frozen=True)
class PkiLayout:
    root: Path

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    @property
    def crl_file(self) -> Path:
        return self.root / "crl.pem"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    def service_cert(self, name: str) -> tuple[Path, Path]:
        return self.root / "services" / f"{name}.pem", self.root / "services" / f"{name}.key"

    def device_cert(self, device_id: str) -> tuple[Path, Path]:
        return (
            self.root / "devices" / f"{device_id}.pem",
            self.root / "devices" / f"{device_id}.key",
        )


def pki_layout(state_dir: Path) -> PkiLayout:
    return PkiLayout(state_dir / "pki")


def initialise(
    layout: PkiLayout,
    master_key: str,
    server_names: list[str],
    services: tuple[str, ...] = SERVICES,
) -> CertificateAuthority:
    """Create what is missing: CA, broker server certificate, service identities, empty CRL.

    Idempotent: existing files are kept, so identities already handed out stay valid.
    """
    ca = CertificateAuthority.load_or_create(layout.root, master_key)
    if not layout.server_cert.exists() or not layout.server_key.exists():
        ca.issue_server(server_names).write(layout.server_cert, layout.server_key)
    for name in services:
        cert_file, key_file = layout.service_cert(name)
        if not cert_file.exists() or not key_file.exists():
            ca.issue_service(name).write(cert_file, key_file)
    if not layout.crl_file.exists():
        write_crl(layout, ca, [])
    return ca


def write_crl(
    layout: PkiLayout, ca: CertificateAuthority, revoked: list[tuple[int, datetime]]
) -> None:
    # Written whole and renamed into place: the broker never reads half a CRL.
    write_secret(layout.crl_file, ca.crl(revoked))
    layout.crl_file.chmod(0o644)
