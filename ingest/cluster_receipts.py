"""Receipts on the cluster: ingest as an MQTT 3.1.1 QoS 1 client of NATS's MQTT listener.

A NATS core publish reaches an online MQTT subscriber at QoS 0 and is lost for an offline one;
an MQTT QoS 1 publish is kept in the handset's persistent session until it reconnects
(../shared/docs/cluster-notes.md, tests/cluster). So the JetStream transport sends receipts
through this connection, with the `svc:ingest` certificate, whose NATS permissions allow
publishing `ecm.v1.devices.*.receipts` (gateway.nats). After a lost node it reconnects to the
next one, as a handset does.
"""

from __future__ import annotations

import logging
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from core.settings import Settings
from gateway.pki.identity import service_identity, session_client_id

log = logging.getLogger("ecm.ingest")

IN_FLIGHT = 1000


def cluster_mqtt_ports(settings: Settings) -> list[int]:
    ports = [int(p) for p in settings.mqtt_cluster_ports.split(",") if p.strip()]
    return ports or [settings.mqtt_port]


class ClusterReceiptClient:
    def __init__(self, settings: Settings, name: str) -> None:
        self._ports = cluster_mqtt_ports(settings)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=session_client_id(settings, f"{name}-receipts"),
            protocol=MQTTProtocolVersion.MQTTv311,
            # A persistent session: what paho has not had PUBACKed is resent on reconnect.
            clean_session=False,
        )
        service_identity(settings, "ingest").apply(self._client)
        self._client.max_inflight_messages_set(IN_FLIGHT)
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        self._client.on_disconnect = self._next_node
        self._client.on_connect_fail = lambda client, userdata: self._move()
        self._client.connect_async(settings.mqtt_host, self._ports[0], keepalive=30)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=1)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _next_node(self, client: mqtt.Client, userdata: Any, *rest: Any) -> None:
        log.warning("receipt connection to the cluster lost; moving to the next node")
        self._move()

    def _move(self) -> None:
        at = self._ports.index(self._client.port) if self._client.port in self._ports else -1
        # paho's `port` setter refuses while it still thinks it is connected (as in a
        # disconnect callback); its reconnect reads this attribute.
        self._client._port = self._ports[(at + 1) % len(self._ports)]
