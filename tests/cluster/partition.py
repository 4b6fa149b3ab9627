"""A cluster whose third NATS node lives in a network namespace of its own, so it can be cut off.

Loopback has one address for every node, so a node cannot be partitioned there. Node n3 runs
inside `ip netns` namespace with a veth pair to this one (10.213.N.1 here, 10.213.N.2 there, a
/30 of our own); the nodes' routes go over that pair, every client stays on loopback with
nodes n1 and n2. Taking the veth down is a partition of n3 from both peers, in both directions;
bringing it up heals it. Needs root (CI and these machines run as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.migrate import upgrade
from core.settings import Settings
from ecm.services.cluster import ClusterProcesses
from ecm.services.nats import LocalNatsCluster, NodePorts
from gateway.nats import NatsClusterConfig, NatsTls, render_node_conf
from gateway.pki.layout import pki_layout
from tests.cluster.harness import ROOT, ClusterStack

PARTITIONED = 2  # n3


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass(frozen=True)
class Veth:
    namespace: str
    outside: str
    inside: str
    outside_ip: str
    inside_ip: str

    @classmethod
    def unique(cls) -> Veth:
        tag = uuid.uuid4().hex[:6]
        subnet = int(tag, 16) % 250 + 1
        return cls(
            f"ecm-{tag}", f"ecm{tag}a", f"ecm{tag}b", f"10.213.{subnet}.1", f"10.213.{subnet}.2"
        )

    def create(self) -> None:
        ip("netns", "add", self.namespace)
        ip("link", "add", self.outside, "type", "veth", "peer", "name", self.inside)
        ip("link", "set", self.inside, "netns", self.namespace)
        ip("addr", "add", f"{self.outside_ip}/30", "dev", self.outside)
        ip("link", "set", self.outside, "up")
        inside = ("netns", "exec", self.namespace, "ip")
        ip(*inside, "addr", "add", f"{self.inside_ip}/30", "dev", self.inside)
        ip(*inside, "link", "set", self.inside, "up")
        ip(*inside, "link", "set", "lo", "up")

    def cut(self) -> None:
        ip("link", "set", self.outside, "down")

    def heal(self) -> None:
        ip("link", "set", self.outside, "up")

    def delete(self) -> None:
        subprocess.run(["ip", "link", "del", self.outside], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", self.namespace], check=False, capture_output=True)


@dataclass(frozen=True)
class PartitionableNats(LocalNatsCluster):
    veth: Veth | None = None

    def configure(self, ports: list[NodePorts]) -> None:
        super().configure(ports)
        assert self.veth is not None
        layout = pki_layout(self.state_dir)
        nodes = [
            node.__class__(
                **{
                    **node.__dict__,
                    "route_host": self.veth.inside_ip
                    if index == PARTITIONED
                    else self.veth.outside_ip,
                }
            )
            for index, node in enumerate(self.nodes(ports))
        ]
        config = NatsClusterConfig(
            nodes=nodes,
            tls=NatsTls(layout.ca_file, layout.server_cert, layout.server_key),
            users_include="../users.conf",
        )
        for index, node in enumerate(nodes):
            self.conf_file(index).write_text(render_node_conf(config, node))

    def wait_ready(self, ports: list[NodePorts], timeout_s: float = 60.0) -> None:
        super().wait_ready(ports[:PARTITIONED], timeout_s)
        assert self.veth is not None
        probe = (
            "import urllib.request; "
            f"urllib.request.urlopen('http://127.0.0.1:{ports[PARTITIONED].monitor}/healthz', "
            "timeout=2)"
        )
        deadline = time.monotonic() + timeout_s
        while subprocess.run(
            ["ip", "netns", "exec", self.veth.namespace, sys.executable, "-c", probe],
            capture_output=True,
            check=False,
        ).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("the partitionable node n3 did not become healthy")
            time.sleep(0.3)

    def command(self, index: int) -> list[str]:
        assert self.veth is not None
        command = super().command(index)
        if index == PARTITIONED:
            return ["ip", "netns", "exec", self.veth.namespace, *command]
        return command


class PartitionableProcesses(ClusterProcesses):
    def __init__(self, state_dir: Path, veth: Veth) -> None:
        super().__init__(state_dir)
        self.veth = veth
        self.nats = PartitionableNats(state_dir, None, veth)


@contextmanager
def partitionable_cluster() -> Iterator[tuple[ClusterStack, Veth]]:
    if shutil.which("ip") is None or os.geteuid() != 0:
        raise RuntimeError("the partition test needs `ip` (iproute2) and root")
    state_dir = ROOT / ".state" / f"partition-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    shutil.rmtree(state_dir, ignore_errors=True)
    veth = Veth.unique()
    veth.create()
    processes = PartitionableProcesses(state_dir, veth)
    try:
        processes.start()
        stack = ClusterStack(processes)
        # Clients use n1 and n2 only: n3's client ports are inside its namespace.
        stack.settings = Settings(
            **{
                **stack.settings.model_dump(),
                "nats_urls": ",".join(stack.endpoints.nats_urls[:PARTITIONED]),
                "mqtt_cluster_ports": ",".join(
                    str(p) for p in stack.endpoints.mqtt_ports[:PARTITIONED]
                ),
            }
        )
        upgrade(stack.settings)
        yield stack, veth
    finally:
        processes.close()
        veth.delete()
        shutil.rmtree(state_dir, ignore_errors=True)
