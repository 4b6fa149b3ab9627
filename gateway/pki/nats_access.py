"""Who may connect to the NATS cluster: the user list regenerated and reloaded in place.

The cluster's counterpart of the dynamic-security plugin (gateway.pki.broker): the devices
allowed in are kept in `devices.json` beside the user list; adding or removing one rewrites
`users.conf` (gateway.nats.render_users) and sends every local node `SIGHUP` (what
`nats-server --signal reload` sends). A removed device's live MQTT connection is closed by the
reload. NATS reads no CRL: removing the user is the revocation there (docs/scaling.md).
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from gateway.nats import render_users
from gateway.pki.authority import write_secret

log = logging.getLogger("ecm.pki")


class NatsAccess:
    """Same surface as BrokerAccess: allow_devices / remove_devices inside a `with` block."""

    def __init__(
        self, root: Path, pid_files: Sequence[Path], services: Sequence[str] | None = None
    ) -> None:
        """`services`: the service identities to let in; None keeps those already listed."""
        self.root = root
        self.pid_files = list(pid_files)
        self.services = tuple(services) if services is not None else self._state()["services"]

    @property
    def users_file(self) -> Path:
        return self.root / "users.conf"

    @property
    def devices_file(self) -> Path:
        return self.root / "devices.json"

    def _state(self) -> dict[str, list[str]]:
        if not self.devices_file.exists():
            return {"services": [], "devices": []}
        state: dict[str, list[str]] = json.loads(self.devices_file.read_text())
        return state

    def allowed(self) -> set[str]:
        return set(self._state()["devices"])

    def write(self, device_ids: Iterable[str]) -> None:
        ids = sorted(set(device_ids))
        self.root.mkdir(parents=True, exist_ok=True)
        state = {"services": list(self.services), "devices": ids}
        # Written whole and renamed into place: a node reloading now never reads half a file.
        write_secret(self.devices_file, json.dumps(state).encode())
        write_secret(self.users_file, render_users(self.services, ids).encode())

    def allow_devices(self, device_ids: Iterable[str]) -> None:
        self._change(self.allowed() | set(device_ids))

    def remove_devices(self, device_ids: Iterable[str]) -> None:
        self._change(self.allowed() - set(device_ids))

    def update_roles(self, device_ids: Iterable[str]) -> None:
        """Render the user list again with this release's permissions (receipts, v1.1)."""
        self.write(self.allowed())
        self.reload()

    def _change(self, device_ids: set[str]) -> None:
        if device_ids == self.allowed() and self.users_file.exists():
            return
        self.write(device_ids)
        self.reload()

    def reload(self) -> int:
        """Signal every local node to re-read its configuration; returns how many were."""
        reloaded = 0
        for pid_file in self.pid_files:
            try:
                pid = int(pid_file.read_text().strip())
                # A pid file on a shared volume may name a process of another container (another
                # pid namespace): signal only a nats-server, never whatever has that number here.
                if b"nats-server" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue
                os.kill(pid, signal.SIGHUP)
                reloaded += 1
            except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
                continue
        log.info("NATS user list reloaded on %d nodes", reloaded)
        return reloaded

    def __enter__(self) -> NatsAccess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


def nats_root(state_dir: Path) -> Path:
    return state_dir / "cluster" / "nats"


def local_nats_access(state_dir: Path) -> NatsAccess:
    """The local cluster's user list (ecm.services.nats), reloading every node running here."""
    root = nats_root(state_dir)
    return NatsAccess(root, sorted(root.glob("n*/nats.pid")))
