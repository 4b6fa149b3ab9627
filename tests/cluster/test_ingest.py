"""Ingest on the cluster: handsets over MQTT 3.1.1 with their own certificates, any node, into
the JetStream stream, through the durable pull consumer, into PostgreSQL, and receipts back."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from core.settings import Settings
from firmware_sim.publisher import Uplink
from gateway.pki.identity import service_identity
from gateway.protocol import Outcome, parse_receipt, receipts_topic
from ingest.jetstream import JetStreamConsumer
from ingest.transport import make_transport
from tests.cluster.harness import ClusterIngest, ClusterStack, MqttSession
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


def test_ingest_receipts_reach_a_handset_that_was_offline(
    cluster: ClusterStack, cluster_ingest: ClusterIngest
) -> None:
    """Ingest on JetStream sends receipts as an MQTT QoS 1 client of the cluster, so a handset
    (MQTT 3.1.1, its own certificate, persistent session) that was offline when its events were
    committed gets them on reconnect, on another node, without resending anything."""
    fleet = register_fleet(cluster, 1)  # type: ignore[arg-type]
    device = fleet.ids[0]
    identity = cluster.provision([device])[device]
    client_id = f"ecm-{device}"
    first = MqttSession(identity, cluster.mqtt_ports[0], client_id=client_id, clean_session=False)
    first.connect()
    assert first.subscribe(receipts_topic(device)) == [1]
    first.close()
    # Its events reach ingest while it is offline: sent for it by the dev/test operator
    # identity (the handset's own last publishes would race their receipts).
    operator = MqttSession(service_identity(cluster.settings, "operator"), cluster.mqtt_ports[1])
    operator.connect()
    events = fleet.sign(20)
    try:
        for event in events:
            assert operator.publish(event.topic, event.payload)
    finally:
        operator.close()
    ids = [event.event_id for event in events]

    def stored() -> int:
        with psycopg.connect(cluster.settings.database_url, autocommit=True) as conn:
            row = conn.execute(
                "select count(*) from device_event where event_id = any(%s)", (ids,)
            ).fetchone()
        return int(row[0]) if row else 0

    wait_until(lambda: stored() == len(events), timeout_s=60)
    again = MqttSession(identity, cluster.mqtt_ports[2], client_id=client_id, clean_session=False)

    def receipted() -> dict[uuid.UUID, Outcome]:
        return {
            entry.event_id: entry.outcome
            for _, payload in again.messages
            for entry in parse_receipt(payload)
        }

    again.connect()
    try:
        wait_until(lambda: len(receipted()) == len(events), timeout_s=30)
    finally:
        again.close()
    assert receipted() == {event_id: Outcome.STORED for event_id in ids}
