"""Device identity on the NATS cluster: certificates map to users, users get only their own
subjects, MQTT 5 and the NATS client port are closed to devices, revocation needs no restart."""

from __future__ import annotations

import time

import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from gateway.nats import render_users
from gateway.pki.identity import service_identity
from gateway.protocol import events_topic
from tests.cluster.harness import (
    ClusterIngest,
    ClusterStack,
    MqttSession,
    nats_client_login,
)
from tests.faults.harness import register_fleet
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

REFUSED = 0x80


def stored_and_quarantined(stack: ClusterStack, device_id: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        stored = conn.execute(
            "select count(*) from device_event where device_id = %s", (device_id,)
        ).fetchone()
        held = conn.execute(
            "select count(*) from quarantined_message where topic = %s", (events_topic(device_id),)
        ).fetchone()
    return int(stored[0] if stored else 0), int(held[0] if held else 0)


def test_the_user_list_gives_devices_mqtt_only_and_their_own_subjects() -> None:
    text = render_users(["ingest"], ["D1", "bad.id"])
    assert '"user": "CN=D1"' in text
    assert '"ecm.v1.devices.D1.events"' in text
    assert text.count('"allowed_connection_types": [\n    "MQTT"\n   ]') == 1
    # A dot would make the topic a different subject shape: such a device is not let in.
    assert "bad.id" not in text


def test_a_device_publishes_on_its_own_events_subject_only(
    cluster: ClusterStack, cluster_ingest: ClusterIngest
) -> None:
    fleet = register_fleet(cluster, 2)  # type: ignore[arg-type]
    identities = cluster.provision(fleet.ids)
    own, other = fleet.sign(2)
    assert own.topic == events_topic(fleet.ids[0]) and other.topic == events_topic(fleet.ids[1])
    session = MqttSession(identities[fleet.ids[0]], cluster.mqtt_ports[1]).connect()
    try:
        # Device 0 sends device 1's (validly signed) event on device 1's topic: MQTT 3.1.1 has
        # no refusal, so it is PUBACKed, and the cluster drops it.
        assert session.publish(other.topic, other.payload)
        assert session.publish(own.topic, own.payload)
    finally:
        session.close()
    wait_until(lambda: stored_and_quarantined(cluster, fleet.ids[0])[0] == 1, timeout_s=30)
    time.sleep(2.0)  # the forged one, were it let through, would be stored by now
    assert stored_and_quarantined(cluster, fleet.ids[1]) == (0, 0)


def test_a_device_reads_only_its_own_receipts_and_commands(cluster: ClusterStack) -> None:
    fleet = register_fleet(cluster, 2)  # type: ignore[arg-type]
    identities = cluster.provision(fleet.ids)
    me, them = fleet.ids
    session = MqttSession(identities[me], cluster.mqtt_ports[2]).connect()
    try:
        assert session.subscribe("#") == [REFUSED]
        assert session.subscribe("$MQTT/#") == [REFUSED]
        assert session.subscribe(f"ecm/v1/devices/{them}/receipts") == [REFUSED]
        assert session.subscribe(f"ecm/v1/devices/{them}/events") == [REFUSED]
        assert session.subscribe(f"ecm/v1/devices/{me}/receipts") == [1]
        assert session.subscribe(f"ecm/v1/devices/{me}/commands") == [1]
        # Ingest's identity publishes a receipt at QoS 1 on another node; only `me` gets it.
        sender = MqttSession(service_identity(cluster.settings, "ingest"), cluster.mqtt_ports[0])
        sender.connect()
        try:
            assert sender.publish(f"ecm/v1/devices/{me}/receipts", b'{"receipts": []}')
        finally:
            sender.close()
        wait_until(lambda: session.messages, timeout_s=15)
        assert session.messages == [(f"ecm/v1/devices/{me}/receipts", b'{"receipts": []}')]
    finally:
        session.close()


def test_an_offline_handset_gets_its_receipt_when_it_reconnects(cluster: ClusterStack) -> None:
    fleet = register_fleet(cluster, 1)  # type: ignore[arg-type]
    device = fleet.ids[0]
    identity = cluster.provision([device])[device]
    client_id = f"ecm-{device}"
    first = MqttSession(identity, cluster.mqtt_ports[0], client_id=client_id, clean_session=False)
    first.connect()
    assert first.subscribe(f"ecm/v1/devices/{device}/receipts") == [1]
    first.close()
    # Offline now: the receipt goes to its persistent session (QoS 1, replicated stream).
    sender = MqttSession(service_identity(cluster.settings, "ingest"), cluster.mqtt_ports[1])
    sender.connect()
    try:
        assert sender.publish(f"ecm/v1/devices/{device}/receipts", b'{"receipts": ["r1"]}')
    finally:
        sender.close()
    again = MqttSession(identity, cluster.mqtt_ports[2], client_id=client_id, clean_session=False)
    again.connect()
    try:
        wait_until(lambda: again.messages, timeout_s=20)
    finally:
        again.close()
    assert again.messages == [(f"ecm/v1/devices/{device}/receipts", b'{"receipts": ["r1"]}')]


def test_devices_cannot_log_in_on_the_nats_client_port(cluster: ClusterStack) -> None:
    fleet = register_fleet(cluster, 1)  # type: ignore[arg-type]
    identity = cluster.provision(fleet.ids)[fleet.ids[0]]
    for url in cluster.endpoints.nats_urls:
        refusal = nats_client_login(url, identity)
        assert refusal is not None and "Authorization" in refusal, refusal
    # The same port takes the service identity it is for.
    assert (
        nats_client_login(
            cluster.endpoints.nats_urls[0], service_identity(cluster.settings, "ingest")
        )
        is None
    )


def test_the_cluster_refuses_mqtt_5(cluster: ClusterStack) -> None:
    fleet = register_fleet(cluster, 1)  # type: ignore[arg-type]
    identity = cluster.provision(fleet.ids)[fleet.ids[0]]
    v5 = MqttSession(identity, cluster.mqtt_ports[0], MQTTProtocolVersion.MQTTv5).connect()
    v5.close()
    assert v5.connack is not None and v5.connack.is_failure
    assert "protocol" in str(v5.connack).lower()
    v311 = MqttSession(identity, cluster.mqtt_ports[0]).connect()
    v311.close()
    assert v311.connack is not None and not v311.connack.is_failure


def test_revocation_drops_a_connected_device_without_restarting_the_cluster(
    cluster: ClusterStack,
) -> None:
    fleet = register_fleet(cluster, 1)  # type: ignore[arg-type]
    device = fleet.ids[0]
    identity = cluster.provision([device])[device]
    pids_before = cluster.processes.nats.running_pids()
    session = MqttSession(identity, cluster.mqtt_ports[1]).connect()
    assert session.connack is not None and not session.connack.is_failure
    session.client.reconnect_delay_set(min_delay=30, max_delay=30)  # no quick retry
    started = time.monotonic()
    cluster.revoke(device)
    try:
        assert session.disconnected.wait(20), "revoked device still connected"
        dropped_after = time.monotonic() - started
    finally:
        session.close()
    print(f"revoked device dropped after {dropped_after:.2f} s")
    again = MqttSession(identity, cluster.mqtt_ports[0]).connect()
    again.close()
    assert again.connack is None or again.connack.is_failure
    assert cluster.processes.nats.running_pids() == pids_before
