"""A network partition of one NATS node mid-burst (its own network namespace, tests/cluster/
partition.py): handsets and ingest on the majority side; nothing PUBACKed lost, nothing twice."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecm.services.nats import healthy
from gateway import jetstream
from gateway.nats import EVENTS_STREAM
from gateway.pki.identity import service_identity
from tests.cluster.harness import ClusterDevices, ClusterIngest, ClusterStack
from tests.cluster.partition import PARTITIONED, Veth, partitionable_cluster
from tests.faults.harness import publish_paced, register_fleet, settle_and_count
from tests.support.servers import starts_servers

pytestmark = pytest.mark.integration

BURST, BURST_S, CUT_S = 2000, 4.0, 3.0


@pytest.fixture
@starts_servers
def partitionable() -> Iterator[tuple[ClusterStack, Veth]]:
    with partitionable_cluster() as stack_and_veth:
        yield stack_and_veth


def lead_from_n3(stack: ClusterStack, tries: int = 6) -> str | None:
    """Ask the events stream's leader to step down until n3 leads (the harder case), a few
    times; the test runs either way and says which node led."""

    async def _step_down() -> None:
        tls = service_identity(stack.settings, "admin").ssl_context()
        client = await jetstream.connect(stack.endpoints.nats_urls[:PARTITIONED], tls, "ecm-t")
        try:
            await client.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{EVENTS_STREAM}", b"", 10)
        finally:
            await client.close()

    for _ in range(tries):
        leader = stack.view().stream_leader
        if leader == f"n{PARTITIONED + 1}":
            return leader
        asyncio.run(_step_down())
        time.sleep(1.0)
    return stack.view().stream_leader


def test_a_network_partition_of_one_node_mid_burst(
    partitionable: tuple[ClusterStack, Veth], tmp_path: Path
) -> None:
    stack, veth = partitionable
    fleet = register_fleet(stack, 20)  # type: ignore[arg-type]
    leader = lead_from_n3(stack)
    with (
        ClusterIngest(stack, workers=2),
        ClusterDevices(stack, tmp_path / "outbox.sqlite", node=0) as devices,
    ):
        devices.uplink._ports = stack.endpoints.mqtt_ports[:PARTITIONED]  # n3 unreachable
        publisher = threading.Thread(target=publish_paced, args=(devices, fleet, BURST, BURST_S))
        publisher.start()
        time.sleep(BURST_S / 3)
        veth.cut()
        time.sleep(CUT_S)
        veth.heal()
        publisher.join()
        devices.deliver_everything(timeout_s=90)
        counts = settle_and_count(
            stack,  # type: ignore[arg-type]
            fleet,
            devices,  # type: ignore[arg-type]
            f"partition of n3 for {CUT_S:.0f} s (stream leader was {leader})",
            timeout_s=90,
        )
    deadline = time.monotonic() + 60
    while not all(healthy(node.monitor) for node in stack.endpoints.nats[:PARTITIONED]):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert counts.unexpected == 0
    assert counts.stored == counts.sent == counts.confirmed
