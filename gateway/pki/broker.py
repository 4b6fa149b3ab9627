"""Changing who may do what at the running broker: dynamic-security commands and CRL reloads.

Provisioning adds the device's client and role through the plugin's $CONTROL topic; revocation
deletes them, which also disconnects a live session at once. A new CRL takes effect for new
connections when the broker re-reads it on SIGHUP (Mosquitto 2.0.11 does; see the tests).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.broker import (
    MAX_PACKET_BYTES,
    SERVICE_ROLES,
    device_client,
    device_role,
    device_role_name,
)
from gateway.pki.identity import CLIENT_ID_PREFIX, TlsIdentity

log = logging.getLogger("ecm.pki")

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
# A batch's JSON stays this far under the broker's packet limit, leaving room for the topic,
# the correlation data added to each command and the MQTT headers.
BATCH_BYTES = MAX_PACKET_BYTES - 2048
# Replies the plugin sends for what we ask and which mean "already so": not failures.
ALREADY = {
    "Client already exists",
    "Role already exists",
    "Client not found",
    "Role not found",
    "ACL with this topic already exists",
}


class BrokerAccessError(RuntimeError):
    pass


class BrokerAccess:
    """One short-lived admin connection to the broker's dynamic-security control topic."""

    def __init__(self, host: str, port: int, identity: TlsIdentity, timeout_s: float = 10) -> None:
        self._host, self._port, self._timeout = host, port, timeout_s
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{CLIENT_ID_PREFIX}admin-{uuid.uuid4().hex[:10]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        identity.apply(self._client)
        self._ready = threading.Event()
        self._reply = threading.Event()
        self._responses: list[dict[str, Any]] = []
        self._batch = ""
        self._client.on_subscribe = lambda *_: self._ready.set()
        self._client.on_message = self._on_message

    def __enter__(self) -> BrokerAccess:
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        self._client.subscribe(RESPONSE_TOPIC, qos=1)
        if not self._ready.wait(self._timeout):
            self.close()
            raise BrokerAccessError("no SUBACK for the dynamic-security response topic")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        responses = json.loads(message.payload).get("responses", [])
        # Only the replies to this batch: a late reply to an earlier one (after a timeout) or to
        # another admin client must not be taken for ours.
        if any(r.get("correlationData") == self._batch for r in responses):
            self._responses = responses
            self._reply.set()

    def run(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send commands in one message and wait for the plugin's replies, in order."""
        if not commands:
            return []
        self._reply.clear()
        self._batch = uuid.uuid4().hex
        commands = [{**command, "correlationData": self._batch} for command in commands]
        info = self._client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
        info.wait_for_publish(self._timeout)
        if not self._reply.wait(self._timeout):
            raise BrokerAccessError("the broker did not answer the dynamic-security commands")
        failures = [r for r in self._responses if r.get("error") and r["error"] not in ALREADY]
        if failures:
            raise BrokerAccessError(f"the broker refused: {failures}")
        return self._responses

    def allow_devices(self, device_ids: Iterable[str]) -> None:
        commands: list[dict[str, Any]] = []
        for device_id in device_ids:
            role = device_role(device_id)
            commands.append({"command": "createRole", **role})
            commands.append({"command": "createClient", **device_client(device_id)})
        # The plugin rewrites its whole file per command; batches keep bulk provisioning linear
        # in messages, not in round trips.
        for batch in batches(commands):
            self.run(batch)

    def update_roles(self, device_ids: Iterable[str]) -> None:
        """Add to existing roles the rules a newer release brings (receipts, v1.1).

        The plugin keeps roles as first created; createRole on an existing role changes
        nothing. addRoleACL adds a missing rule and leaves one already there alone.
        """
        roles: list[dict[str, Any]] = [
            {"rolename": f"service:{name}", "acls": acls} for name, acls in SERVICE_ROLES.items()
        ]
        roles += [device_role(device_id) for device_id in device_ids]
        commands = [
            {"command": "addRoleACL", "rolename": role["rolename"], **acl}
            for role in roles
            for acl in role["acls"]
        ]
        for batch in batches(commands):
            self.run(batch)

    def remove_devices(self, device_ids: Iterable[str]) -> None:
        """Delete the device's client (which disconnects it now) and its role."""
        commands: list[dict[str, Any]] = []
        for device_id in device_ids:
            commands.append({"command": "deleteClient", "username": device_id})
            commands.append({"command": "deleteRole", "rolename": device_role_name(device_id)})
        for batch in batches(commands):
            self.run(batch)


def batches(commands: list[dict[str, Any]], limit: int = BATCH_BYTES) -> list[list[dict[str, Any]]]:
    """Consecutive runs of commands whose message stays under `limit` bytes: the broker
    disconnects a client that sends a packet over its max_packet_size (gateway.broker)."""
    # Each command gains `"correlationData": "<32 hex>"` in run(), and a separator.
    extra = len(', "correlationData": ""') + 32 + 2
    result: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = len('{"commands": []}')
    for command in commands:
        cost = len(json.dumps(command)) + extra
        if current and size + cost > limit:
            result.append(current)
            current, size = [], len('{"commands": []}')
        current.append(command)
        size += cost
    if current:
        result.append(current)
    return result


def reload_broker(pid_file: Path) -> bool:
    """SIGHUP the local broker so it re-reads the CRL. False when no broker runs from here.

    Under compose the broker container runs its own watcher that reloads when crl.pem changes
    (deploy/mosquitto-entrypoint.sh), so there is no pid to signal and False is expected.
    """
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return False
    log.info("broker %d reloading its CRL", pid)
    return True
