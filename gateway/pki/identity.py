"""A client's MQTT TLS identity: the CA it trusts and the certificate and key it presents."""

from __future__ import annotations

import hashlib
import hmac
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt

from gateway.pki.layout import pki_layout

if TYPE_CHECKING:
    # Types only: a handset (the simulator) imports this module without the server's settings.
    from core.settings import Settings

# Every client we ship uses an id with this prefix; the broker refuses any other (see
# gateway.broker), which keeps the wildcard client ids `#` and `+` out.
CLIENT_ID_PREFIX = "ecm-"


@dataclass(frozen=True)
class TlsIdentity:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def apply(self, client: mqtt.Client) -> None:
        """TLS 1.2+ with the broker's certificate checked against our CA and its host name."""
        client.tls_set(
            ca_certs=str(self.ca_file),
            certfile=str(self.cert_file),
            keyfile=str(self.key_file),
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """The same checks for clients that are not paho (asyncio load generators)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


def session_client_id(settings: Settings, name: str) -> str:
    """A stable client id for a service's persistent session that no device can guess.

    Access rules follow the certificate, but the client id names the session, and whoever
    connects with an existing id takes that session over (MQTT's rule). Mosquitto 2.0 cannot
    bind client ids to certificates, so a phone that knew ingest's id could take over its session
    and have the events queued for it dropped as not readable by the phone. The suffix, keyed
    by the master key, keeps the id stable across restarts and unknown to certificate holders.
    """
    key = hashlib.sha256(b"ecm mqtt session id\0" + settings.master_key.encode()).digest()
    tag = hmac.new(key, name.encode(), hashlib.sha256).hexdigest()[:16]
    return f"{CLIENT_ID_PREFIX}{name}-{tag}"


def service_identity(settings: Settings, role: str) -> TlsIdentity:
    """The role's identity: explicit ECM_MQTT_*_FILE settings, else the local stack's files."""
    layout = pki_layout(settings.state_dir)
    cert_file, key_file = layout.service_cert(role)
    return TlsIdentity(
        ca_file=settings.mqtt_ca_file or layout.ca_file,
        cert_file=settings.mqtt_cert_file or cert_file,
        key_file=settings.mqtt_key_file or key_file,
    )


def device_identity(state_dir: Path, device_id: str, ca_file: Path | None = None) -> TlsIdentity:
    """A simulated handset's identity, as `ecm devices provision --local` left it under the
    state folder; `ca_file` overrides the local CA (ECM_MQTT_CA_FILE on the server side)."""
    layout = pki_layout(state_dir)
    cert_file, key_file = layout.device_cert(device_id)
    return TlsIdentity(ca_file or layout.ca_file, cert_file, key_file)
