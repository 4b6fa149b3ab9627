"""Faults on the cluster during a burst: nothing receipted is lost, nothing stored twice.

Each scenario runs on its own clustered stack (tests/cluster/harness.py), with ingest pulling
from the JetStream consumer and sending receipts as an MQTT QoS 1 client of the cluster
(ingest/cluster_receipts.py), and prints Jepsen-style counts from the handsets' side (sent,
receipted, stored, lost, duplicated, quarantined, unexpected). The handsets keep every event
until its receipt (protocol v1.1), so whatever a node's death loses after a PUBACK is resent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from core.db import make_engine
from ecm.services.nats import healthy, monitor
from tests.cluster.harness import ClusterDevices, ClusterIngest, ClusterStack, cluster_stack
from tests.faults.harness import Counts, Fleet, publish_paced, register_fleet, settle_and_count
from tests.support.servers import starts_servers

pytestmark = pytest.mark.integration

BURST = 2000
BURST_S = 4.0


@pytest.fixture(scope="module")
@starts_servers
def stack() -> Iterator[ClusterStack]:
    """One cluster for the module: each NATS scenario brings its node back (and waits until the
    cluster is whole) before it ends; the database scenario, whose promotion leaves no standby,
    runs last."""
    with cluster_stack() as stack:
        yield stack


def restart_and_wait(stack: ClusterStack, index: int) -> None:
    stack.processes.start_node(index)
    deadline = time.monotonic() + 60
    while not healthy(stack.endpoints.nats[index].monitor):
        assert time.monotonic() < deadline, f"n{index + 1} did not come back"
        time.sleep(0.2)
    # Every stream current on every node again (the health check says so once caught up).
    for node in stack.endpoints.nats:
        while not healthy(node.monitor):
            assert time.monotonic() < deadline, "the cluster did not become whole again"
            time.sleep(0.2)


def assert_nothing_lost(counts: Counts) -> None:
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert counts.unexpected == 0
    assert counts.quarantined == 0
    assert counts.receipted == counts.sent
    assert counts.stored == counts.sent


@contextmanager
def burst(devices: ClusterDevices, fleet: Fleet) -> Iterator[None]:
    publisher = threading.Thread(
        target=publish_paced,
        args=(devices, fleet, BURST, BURST_S),  # duck-typed as tests/faults' Devices
    )
    publisher.start()
    try:
        yield
    finally:
        publisher.join()


def meta_leader(stack: ClusterStack) -> str:
    document: Any = monitor(stack.endpoints.nats[0].monitor, "jsz")
    return str(document["meta_cluster"]["leader"])


def test_kill_9_a_non_leader_nats_node_mid_burst(stack: ClusterStack, tmp_path: Path) -> None:
    fleet = register_fleet(stack, 20)  # type: ignore[arg-type]
    view = stack.view()
    assert view.stream_leader is not None
    leader = stack.node_index(view.stream_leader)
    leaders = {view.stream_leader, view.consumer_leader, meta_leader(stack)}
    others = [i for i in range(3) if i != leader]
    # A node that leads nothing if there is one, else one that is not the stream leader.
    victim = next((i for i in others if f"n{i + 1}" not in leaders), others[0])
    with (
        ClusterIngest(stack, workers=2),
        ClusterDevices(stack, tmp_path / "outbox.sqlite", node=leader) as devices,
    ):
        with burst(devices, fleet):
            time.sleep(BURST_S / 3)
            stack.processes.kill_node(victim)
        devices.deliver_everything(timeout_s=60)
        counts = settle_and_count(stack, fleet, devices, f"kill -9 non-leader n{victim + 1}")  # type: ignore[arg-type]
    restart_and_wait(stack, victim)
    assert_nothing_lost(counts)


def test_kill_9_the_event_stream_leader_mid_burst(stack: ClusterStack, tmp_path: Path) -> None:
    fleet = register_fleet(stack, 20)  # type: ignore[arg-type]
    view = stack.view()
    assert view.stream_leader is not None
    leader = stack.node_index(view.stream_leader)
    # Handsets on another node: their PUBACKs come from a node that survives.
    with (
        ClusterIngest(stack, workers=2),
        ClusterDevices(stack, tmp_path / "outbox.sqlite", node=(leader + 1) % 3) as devices,
    ):
        with burst(devices, fleet):
            time.sleep(BURST_S / 3)
            stack.processes.kill_node(leader)
        devices.deliver_everything(timeout_s=60)
        counts = settle_and_count(stack, fleet, devices, f"kill -9 stream leader n{leader + 1}")  # type: ignore[arg-type]
    assert stack.view().stream_leader != view.stream_leader
    restart_and_wait(stack, leader)
    assert_nothing_lost(counts)


def test_kill_9_the_postgresql_primary_mid_burst_and_promote_the_standby(
    stack: ClusterStack, tmp_path: Path
) -> None:
    fleet = register_fleet(stack, 20)  # type: ignore[arg-type]
    with (
        ClusterIngest(stack, workers=2),
        ClusterDevices(stack, tmp_path / "outbox.sqlite") as devices,
    ):
        with burst(devices, fleet):
            time.sleep(BURST_S / 3)
            stack.processes.kill_primary()
            time.sleep(1.0)  # an operator (or a failover manager) notices, then promotes
            stack.processes.promote()
        devices.deliver_everything(timeout_s=60)
        counts = settle_and_count(stack, fleet, devices, "kill -9 PostgreSQL primary, promote")  # type: ignore[arg-type]
    assert_nothing_lost(counts)
    # The API's engine (SQLAlchemy, the same URL) finds the promoted server too.
    engine = make_engine(stack.settings, "tests")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select pg_is_in_recovery()")).scalar() is False
    finally:
        engine.dispose()
