"""What a simulated handset needs to know to reach the broker: the device's own options, not the
server's settings. `ecm sim` (the composition root, ecm/cli.py) fills them from the local stack's
settings; anyone else builds them directly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.pki.identity import TlsIdentity, device_identity


@dataclass(frozen=True)
class SimOptions:
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    # Where `ecm devices provision --local` left the handsets' certificates (<state>/pki).
    state_dir: Path = Path(".state")
    ca_file: Path | None = None
    # "5" for Mosquitto, "3.1.1" for the NATS cluster (which refuses 5; docs/scaling.md).
    mqtt_version: str = "5"
    # The cluster's other MQTT ports on the same host: a handset moves there when its node fails.
    other_ports: tuple[int, ...] = ()

    @property
    def default_outbox(self) -> Path:
        return self.state_dir / "sim" / "outbox.sqlite"

    def identity(self, device_id: str) -> TlsIdentity:
        return device_identity(self.state_dir, device_id, self.ca_file)
