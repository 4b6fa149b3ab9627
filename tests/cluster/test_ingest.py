"""Ingest on the cluster: handsets over MQTT 3.1.1 with their own certificates, any node, into
the JetStream stream, through the durable pull consumer, into PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from core.settings import Settings
from firmware_sim.publisher import Uplink
from ingest.jetstream import JetStreamConsumer
from ingest.transport import make_transport
from tests.cluster.harness import ClusterIngest, ClusterStack
from tests.faults.harness import register_fleet
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration


def test_the_transport_follows_the_setting(cluster: ClusterStack) -> None:
    assert isinstance(make_transport(cluster.settings), JetStreamConsumer)
    assert not isinstance(make_transport(Settings(state_dir=cluster.state_dir)), JetStreamConsumer)


def test_handsets_on_every_node_over_mqtt_3_1_1_are_stored_once(
    cluster: ClusterStack, cluster_ingest: ClusterIngest
) -> None:
    fleet = register_fleet(cluster, 6)  # type: ignore[arg-type]
    identities = cluster.provision(fleet.ids)
    events = fleet.sign(600)
    uplinks = [
        Uplink(
            "127.0.0.1",
            port,
            device_identity=identities.__getitem__,
            mqtt_version="3.1.1",
        )
        for port in cluster.mqtt_ports
    ]
    try:
        # Device i connects to node i % 3: the events stream takes them from every node.
        for event in events:
            index = fleet.ids.index(event.claims.device_id)
            uplinks[index % 3].publish(event.topic, event.payload, event.event_id)
        assert all(uplink.flush(timeout=60) for uplink in uplinks)
    finally:
        for uplink in uplinks:
            uplink.close()
    ids = [event.event_id for event in events]

    def stored() -> int:
        with psycopg.connect(cluster.settings.database_url, autocommit=True) as conn:
            row = conn.execute(
                "select count(*) from device_event where event_id = any(%s)", (ids,)
            ).fetchone()
        return int(row[0]) if row else 0

    wait_until(lambda: stored() == len(events), timeout_s=60)
    with psycopg.connect(cluster.settings.database_url, autocommit=True) as conn:
        # Without the MQTT 5 sent-at clock, only the device-time rules apply: nothing held.
        held = conn.execute(
            "select count(*) from quarantined_message where device_id = any(%s)", (fleet.ids,)
        ).fetchone()
    assert held is not None and held[0] == 0
    # Every message acknowledged after its commit: the work queue empties.
    wait_until(lambda: cluster.view().ack_pending == 0 and cluster.view().pending == 0)
