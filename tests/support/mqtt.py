"""Command-line MQTT clients (mosquitto_pub, mosquitto_sub) against the test broker."""

from __future__ import annotations

from gateway.pki.identity import TlsIdentity


def mqtt_tls_args(identity: TlsIdentity) -> list[str]:
    """mosquitto_pub/mosquitto_sub options for connecting with `identity`."""
    return [
        "--cafile",
        str(identity.ca_file),
        "--cert",
        str(identity.cert_file),
        "--key",
        str(identity.key_file),
    ]
