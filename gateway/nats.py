"""NATS server configuration for the clustered broker, generated like the Mosquitto one.

Three (or more) nodes form one JetStream cluster. Handsets speak MQTT 3.1.1 over TLS to any node;
the services speak NATS on the client port. Both listeners require a client certificate from the
gateway CA and map its subject (`CN=<device id>`, `CN=svc:<name>`) to a user
(`verify_and_map`), so there are no passwords anywhere. Each device user may publish only its own
events subject and read only its own receipts and commands; `allowed_connection_types: MQTT`
keeps a device certificate off the NATS client port (where, without it, the mapped user could
log in and use NATS's wider protocol).

An MQTT topic `ecm/v1/devices/D1/events` is the NATS subject `ecm.v1.devices.D1.events`, so a
device id may not contain `.` on the cluster (`nats_subject_safe`).

The user list is its own file (`render_users`), included by every node, regenerated from the
registry on every provisioning or revocation and applied with `nats-server --signal reload`
(gateway.pki.nats_access), without restarting anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.pki.authority import SERVICE_PREFIX

# Where every device's events are kept until ingest has committed them: the MQTT layer's own
# stream of QoS 1 messages, which the server writes (replicated) *before* it sends the PUBACK.
# A separate stream capturing `ecm.v1.devices.*.events` is fed after the PUBACK, and lost
# PUBACKed events when its leader was killed (docs/scaling.md); this one did not. Its name and
# subject layout are the NATS server's (2.15.x, pinned in pyproject.toml); tests/cluster holds
# them. Ingest's durable pull consumer on it is what keeps messages there (interest retention).
EVENTS_STREAM = "$MQTT_msgs"
MQTT_MSGS_PREFIX = "$MQTT.msgs."
EVENTS_SUBJECTS = MQTT_MSGS_PREFIX + "ecm.v1.devices.*.events"
INGEST_CONSUMER = "ingest"
CLUSTER_NAME = "ecm"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def nats_subject_safe(device_id: str) -> bool:
    """A device id whose topic maps to a NATS subject of the same shape (no `.`)."""
    return bool(_SAFE_ID.match(device_id))


def topic_to_subject(topic: str) -> str:
    return topic.replace("/", ".")


def subject_to_topic(subject: str) -> str:
    """`$MQTT.msgs.ecm.v1.devices.D1.events` (or the bare subject) -> `ecm/v1/devices/D1/events`."""
    return subject.removeprefix(MQTT_MSGS_PREFIX).replace(".", "/")


@dataclass(frozen=True)
class NatsTls:
    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class NatsNode:
    name: str
    client_port: int
    cluster_port: int
    mqtt_port: int
    monitor_port: int
    store_dir: Path
    pid_file: Path | None = None
    log_file: Path | None = None
    # Where this node listens for and is reached by its peers' routes, when not the cluster's
    # `host` (a node in a network namespace of its own, in the partition test).
    route_host: str | None = None


@dataclass(frozen=True)
class NatsClusterConfig:
    nodes: Sequence[NatsNode]
    tls: NatsTls
    # The user list, relative to each node's own configuration file (NATS resolves it so).
    users_include: str
    # Where each node's peers are reached; a real host lists the others' addresses here.
    host: str = "127.0.0.1"
    bind_address: str = "127.0.0.1"
    # The MQTT layer's own streams (sessions, retained messages, QoS 1 deliveries to
    # subscribers such as a handset's receipts) get the same replication as the events stream.
    replicas: int = 3
    max_file_store: str = "10G"
    max_memory_store: str = "256M"
    # Peers' route addresses (host:port) on real hosts; None: the other nodes on `host`.
    routes: Sequence[str] | None = None


def _tls_block(tls: NatsTls) -> dict[str, Any]:
    return {
        "ca_file": str(tls.ca_file),
        "cert_file": str(tls.cert_file),
        "key_file": str(tls.key_file),
        # The certificate is the identity: its subject names the user.
        "verify_and_map": True,
        "timeout": 5,
    }


def render_node_conf(config: NatsClusterConfig, node: NatsNode) -> str:
    """One node's configuration (NATS accepts JSON; every value is quoted by json.dumps)."""
    if config.routes is not None:
        routes = [f"nats-route://{route}" for route in config.routes]
    else:
        routes = [
            f"nats-route://{peer.route_host or config.host}:{peer.cluster_port}"
            for peer in config.nodes
            if peer.name != node.name
        ]
    document: dict[str, Any] = {
        "server_name": node.name,
        "listen": f"{config.bind_address}:{node.client_port}",
        "http": f"{config.bind_address}:{node.monitor_port}",
        "tls": _tls_block(config.tls),
        "jetstream": {
            "store_dir": str(node.store_dir),
            "max_file_store": config.max_file_store,
            "max_memory_store": config.max_memory_store,
        },
        "cluster": {
            "name": CLUSTER_NAME,
            "listen": f"{node.route_host or config.bind_address}:{node.cluster_port}",
            "routes": routes,
            # Clients are given the addresses they were configured with, not the peers'.
            "no_advertise": True,
        },
        "mqtt": {
            "listen": f"{config.bind_address}:{node.mqtt_port}",
            "tls": _tls_block(config.tls),
            # Its consumers follow their stream's replicas (2.15 refuses `consumer_replicas`).
            "stream_replicas": config.replicas,
            # A QoS 1 message unacknowledged by a subscriber (a handset's receipt) is sent again.
            "ack_wait": "30s",
        },
        # Messages are small (protocol maximum 16 KiB); refuse anything much larger.
        "max_payload": 64 * 1024,
    }
    if node.pid_file is not None:
        document["pid_file"] = str(node.pid_file)
    if node.log_file is not None:
        document["log_file"] = str(node.log_file)
    lines = ["# Generated by ecm (gateway.nats); edits are overwritten."]
    lines += [f"{key}: {json.dumps(value, indent=1)}" for key, value in document.items()]
    # The user list is a separate file so a revocation rewrites only it.
    lines.append(f'include "{config.users_include}"')
    return "\n".join(lines) + "\n"


def device_permissions(device_id: str) -> dict[str, Any]:
    own = f"ecm.v1.devices.{device_id}"
    return {
        "publish": {"allow": [f"{own}.events"]},
        "subscribe": {"allow": [f"{own}.receipts", f"{own}.commands"]},
    }


JS_API = "$JS.API"


def _ingest_permissions(stream: str, consumer: str) -> dict[str, Any]:
    return {
        "publish": {
            "allow": [
                # Pull, look at and acknowledge its own consumer; nothing else of JetStream.
                f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{consumer}",
                f"{JS_API}.CONSUMER.INFO.{stream}.{consumer}",
                f"$JS.ACK.{stream}.{consumer}.>",
                # Receipts to handsets (as an MQTT QoS 1 client: MQTT keeps them for an
                # offline handset's session).
                "ecm.v1.devices.*.receipts",
            ]
        },
        "subscribe": {"allow": ["_INBOX.>"]},
    }


def service_users(stream: str = EVENTS_STREAM, consumer: str = INGEST_CONSUMER) -> dict[str, Any]:
    """Per service: (permissions, connection types)."""
    return {
        "ingest": (_ingest_permissions(stream, consumer), ["STANDARD", "MQTT"]),
        # Stream and consumer administration (ecm cluster up), and reading cluster state.
        "admin": (
            {
                "publish": {"allow": [f"{JS_API}.>", "ecm.v1.devices.*.commands"]},
                "subscribe": {"allow": ["_INBOX.>"]},
            },
            ["STANDARD", "MQTT"],
        ),
        "api": (
            {"publish": {"allow": ["ecm.v1.devices.*.commands"]}, "subscribe": {"allow": []}},
            ["MQTT"],
        ),
        # Dev and test only (as with Mosquitto): publishes as any device, reads everything.
        "operator": (
            {
                "publish": {"allow": ["ecm.v1.devices.*.events"]},
                "subscribe": {"allow": ["ecm.v1.>", "_INBOX.>"]},
            },
            ["STANDARD", "MQTT"],
        ),
    }


def render_users(services: Iterable[str], device_ids: Iterable[str]) -> str:
    """The `authorization` block: one user per certificate subject, deny by default."""
    definitions = service_users()
    users: list[dict[str, Any]] = []
    for name in services:
        permissions, types = definitions[name]
        users.append(
            {
                "user": f"CN={SERVICE_PREFIX}{name}",
                "permissions": permissions,
                "allowed_connection_types": types,
            }
        )
    for device_id in sorted(set(device_ids)):
        if not nats_subject_safe(device_id):
            continue
        users.append(
            {
                "user": f"CN={device_id}",
                "permissions": device_permissions(device_id),
                "allowed_connection_types": ["MQTT"],
            }
        )
    return (
        "# Generated by ecm (gateway.nats) from the registry; edits are overwritten.\n"
        f"authorization: {json.dumps({'users': users}, indent=1)}\n"
    )
