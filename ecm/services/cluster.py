"""The clustered stack on one machine: three NATS JetStream nodes and a replicated PostgreSQL.

`running_cluster()` owns the servers as child processes for a block (tests, benchmarks);
`up()` leaves them running for `ecm cluster down`. Both write <state>/ecm.env, so every role
started afterwards (ingest with the JetStream transport, the API, the simulator over MQTT 3.1.1)
finds the cluster without flags.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.process import free_port
from core.settings import Settings, env_file
from ecm.services.nats import NODES, LocalNatsCluster, NodePorts
from ecm.services.stack import stop_child
from ecm.services.standby import ReplicatedPostgres, multi_host_url
from gateway import jetstream


@dataclass(frozen=True)
class ClusterEndpoints:
    nats: list[NodePorts]
    pg_primary_port: int
    pg_standby_port: int
    host: str = "127.0.0.1"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return multi_host_url([self.pg_primary_port, self.pg_standby_port], self.host)

    @property
    def mqtt_ports(self) -> list[int]:
        return [node.mqtt for node in self.nats]

    @property
    def nats_urls(self) -> list[str]:
        return [f"tls://{self.host}:{node.client}" for node in self.nats]

    def as_env(self) -> dict[str, str]:
        return {
            "ECM_DATABASE_URL": self.database_url,
            "ECM_MQTT_HOST": self.host,
            "ECM_MQTT_PORT": str(self.nats[0].mqtt),
            "ECM_BROKER": "nats",
            "ECM_INGEST_TRANSPORT": "jetstream",
            "ECM_NATS_URLS": ",".join(self.nats_urls),
            "ECM_MQTT_CLUSTER_PORTS": ",".join(str(p) for p in self.mqtt_ports),
        }

    def settings(self, state_dir: Path, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "state_dir": state_dir,
            "database_url": self.database_url,
            "mqtt_host": self.host,
            "mqtt_port": self.nats[0].mqtt,
            "broker": "nats",
            "ingest_transport": "jetstream",
            "nats_urls": ",".join(self.nats_urls),
            "mqtt_cluster_ports": ",".join(str(p) for p in self.mqtt_ports),
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]


def _record(state_dir: Path, endpoints: ClusterEndpoints) -> None:
    lines = [f"{key}={value}" for key, value in endpoints.as_env().items()]
    env_file(state_dir).write_text("\n".join(lines) + "\n")
    ports = {"pg": [endpoints.pg_primary_port, endpoints.pg_standby_port]}
    (state_dir / "cluster" / "ports.json").write_text(json.dumps(ports))


def _recorded_pg_ports(state_dir: Path) -> tuple[int, int] | None:
    path = state_dir / "cluster" / "ports.json"
    if not path.exists():
        return None
    primary, standby = json.loads(path.read_text())["pg"]
    return int(primary), int(standby)


def ensure_stream(state_dir: Path, endpoints: ClusterEndpoints) -> None:
    """The MQTT layer's streams and ingest's consumer on them, before any handset publishes."""
    settings = endpoints.settings(state_dir)
    jetstream.prepare_events(settings, endpoints.nats_urls, endpoints.mqtt_ports[0])


def status(state_dir: Path) -> ClusterEndpoints | None:
    nats = LocalNatsCluster(state_dir)
    ports = nats.recorded_ports()
    pg_ports = _recorded_pg_ports(state_dir)
    if ports is None or pg_ports is None or None in nats.running_pids():
        return None
    return ClusterEndpoints(ports, *pg_ports)


def up(state_dir: Path) -> ClusterEndpoints:
    """Start the cluster in the background (idempotent) and record where it listens."""
    existing = status(state_dir)
    if existing is not None:
        return existing
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "cluster").mkdir(exist_ok=True)
    pg = ReplicatedPostgres(state_dir)
    primary_port, standby_port = free_port(), free_port()
    pg.start_primary(primary_port, detached=True)
    pg.wait_primary(primary_port)
    pg.make_standby(primary_port)
    pg.start_standby(standby_port, primary_port, detached=True)
    pg.wait_synchronous(primary_port)
    nats = LocalNatsCluster(state_dir)
    ports = [NodePorts.free() for _ in range(NODES)]
    nats.configure(ports)
    for index in range(NODES):
        nats.start_node(index, detached=True)
    nats.wait_ready(ports)
    endpoints = ClusterEndpoints(ports, primary_port, standby_port)
    ensure_stream(state_dir, endpoints)
    _record(state_dir, endpoints)
    return endpoints


def down(state_dir: Path) -> None:
    LocalNatsCluster(state_dir).stop()
    ReplicatedPostgres(state_dir).stop()
    env_file(state_dir).unlink(missing_ok=True)


def promote(state_dir: Path) -> None:
    ReplicatedPostgres(state_dir).promote()


class ClusterProcesses:
    """The cluster's servers as children of this process, each stoppable or killable alone."""

    def __init__(self, state_dir: Path, server_bin: str | None = None) -> None:
        self.state_dir = state_dir
        self.nats = LocalNatsCluster(state_dir, server_bin)
        self.pg = ReplicatedPostgres(state_dir)
        self.node_ports = [NodePorts.free() for _ in range(NODES)]
        self.nodes: list[subprocess.Popen[bytes] | None] = [None] * NODES
        self.pg_primary: subprocess.Popen[bytes] | None = None
        self.pg_standby: subprocess.Popen[bytes] | None = None
        self.endpoints = ClusterEndpoints(self.node_ports, free_port(), free_port())

    def start(self) -> ClusterEndpoints:
        state_dir, endpoints = self.state_dir, self.endpoints
        (state_dir / "cluster").mkdir(parents=True, exist_ok=True)
        self.pg_primary = self.pg.start_primary(endpoints.pg_primary_port, detached=False)
        self.nats.configure(self.node_ports)
        for index in range(NODES):
            self.start_node(index)
        self.pg.wait_primary(endpoints.pg_primary_port)
        self.pg.make_standby(endpoints.pg_primary_port)
        self.pg_standby = self.pg.start_standby(
            endpoints.pg_standby_port, endpoints.pg_primary_port, detached=False
        )
        self.pg.wait_synchronous(endpoints.pg_primary_port)
        self.nats.wait_ready(self.node_ports)
        ensure_stream(state_dir, endpoints)
        _record(state_dir, endpoints)
        return endpoints

    def start_node(self, index: int) -> None:
        self.nodes[index] = self.nats.start_node(index)

    def kill_node(self, index: int) -> None:
        """kill -9: no goodbye to the peers, nothing flushed."""
        node = self.nodes[index]
        if node is not None and node.poll() is None:
            node.kill()
            node.wait()

    def kill_primary(self) -> None:
        """kill -9 of the primary's postmaster; its backends end when they notice."""
        if self.pg_primary is not None and self.pg_primary.poll() is None:
            self.pg_primary.kill()
            self.pg_primary.wait()

    def promote(self) -> None:
        self.pg.promote()

    def close(self) -> None:
        for child in [*self.nodes, self.pg_standby, self.pg_primary]:
            if child is not None:
                stop_child(child)
        env_file(self.state_dir).unlink(missing_ok=True)


@contextlib.contextmanager
def running_cluster(state_dir: Path, server_bin: str | None = None) -> Iterator[ClusterProcesses]:
    """Own a fresh cluster for the block's duration; its servers stop when the block exits."""
    processes = ClusterProcesses(state_dir, server_bin)
    try:
        processes.start()
        yield processes
    finally:
        processes.close()
