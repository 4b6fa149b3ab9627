"""Certificate rotation at the real broker, with the real ingest: a connected handset keeps its
connection through `ecm devices rotate`, moves to the new certificate, and not one event is lost;
after the overlap the old certificate is refused. Expiry is warned about and exported."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import Engine, text

from core.settings import Settings
from gateway.pki import rotation
from gateway.pki.devices import DeviceCertificates, list_certificates
from gateway.pki.identity import TlsIdentity
from gateway.protocol import EventType
from tests.support.devices import TestDevice
from tests.support.evidence import quarantined, stored_events
from tests.support.paths import ROOT
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration


class Handset:
    """A handset's MQTT connection: one persistent session (its client id), QoS 1 publishes
    answered by PUBACK, and a record of every disconnect and who caused it."""

    def __init__(self, settings: Settings, identity: TlsIdentity, client_id: str) -> None:
        self.settings = settings
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        identity.apply(self.client)
        self.connected = threading.Event()
        self.disconnects: list[ReasonCode] = []
        self.client.on_connect = lambda *args: self.connected.set()
        self.client.on_disconnect = self._on_disconnect

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, p: Any) -> None:
        self.disconnects.append(reason)

    def connect(self) -> bool:
        properties = mqtt.Properties(mqtt.PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        try:
            self.client.connect(
                self.settings.mqtt_host,
                self.settings.mqtt_port,
                keepalive=10,
                clean_start=False,
                properties=properties,
            )
        except OSError:
            return False
        self.client.loop_start()
        return self.connected.wait(5) and not self.disconnects

    def publish(self, topic: str, payload: str) -> bool:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=10)
        return info.is_published()

    def leave(self) -> None:
        """The handset's own, orderly disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def ecm(role_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecm", *args],
        env=role_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def send(handset: Handset, device: TestDevice, count: int) -> list[str]:
    sent = []
    for n in range(count):
        kind = EventType.CHECK_IN if n % 2 == 0 else EventType.CHECK_OUT
        claims, jws = device.event(kind)
        assert handset.publish(device.topic, jws), "no PUBACK"
        sent.append(str(claims.event_id))
    return sent


def test_rotation_keeps_the_handset_connected_and_loses_no_event(
    settings: Settings,
    role_env: dict[str, str],
    make_device: Callable[[], TestDevice],
    provision: Callable[[list[str]], dict[str, TlsIdentity]],
    ingest_worker: subprocess.Popen[bytes],
    engine: Engine,
    tmp_path: Path,
) -> None:
    device = make_device()
    old = provision([device.device_id])[device.device_id]
    client_id = f"ecm-sim-{device.device_id}"
    handset = Handset(settings, old, client_id)
    assert handset.connect()
    sent = send(handset, device, 4)

    rotated = ecm(role_env, "devices", "rotate", device.device_id, "--out", str(tmp_path))
    assert rotated.returncode == 0, rotated.stderr
    new = TlsIdentity(
        old.ca_file, tmp_path / f"{device.device_id}.pem", tmp_path / f"{device.device_id}.key"
    )
    # The connection on the old certificate carries on as if nothing happened.
    sent += send(handset, device, 4)
    assert handset.disconnects == []
    records = {r.serial: r for r in list_certificates_of(engine, device.device_id)}
    assert len([r for r in records.values() if r.live]) == 2
    assert len([r for r in records.values() if r.retires_at is not None]) == 1

    # At its next reconnect the handset uses the new certificate and resumes its session.
    handset.leave()
    assert [reason.is_failure for reason in handset.disconnects] == [False]
    moved = Handset(settings, new, client_id)
    assert moved.connect()
    sent += send(moved, device, 4)

    wait_until(lambda: len(stored_events(engine, device.device_id)) == len(sent), timeout_s=30)
    assert {str(e["event_id"]) for e in stored_events(engine, device.device_id)} == set(sent)
    assert quarantined(engine, device_id=device.device_id) == []

    # During the overlap the old certificate still connects (a handset that has not moved yet).
    straggler = Handset(settings, old, f"ecm-straggler-{device.device_id}")
    assert straggler.connect()
    straggler.leave()
    # After it, the old certificate is revoked and refused; the moved handset is untouched.
    with engine.begin() as conn:
        retired = rotation.retire_rotated(
            conn, DeviceCertificates(settings), datetime.now(UTC) + timedelta(days=8)
        )
    assert [device_id for device_id, _ in retired] == [device.device_id]
    wait_until(
        lambda: not Handset(settings, old, f"ecm-late-{device.device_id}").connect(), timeout_s=10
    )
    assert send(moved, device, 1)
    assert moved.disconnects == []
    moved.leave()


def list_certificates_of(engine: Engine, device_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list_certificates(conn, device_id)


def test_expiry_is_warned_about_and_exported(
    settings: Settings,
    role_env: dict[str, str],
    make_device: Callable[[], TestDevice],
    provision: Callable[[list[str]], dict[str, TlsIdentity]],
    engine: Engine,
) -> None:
    soon, later = make_device(), make_device()
    provision([soon.device_id, later.device_id])
    with engine.begin() as conn:
        conn.execute(
            text(
                "update device_certificate set not_after = now() + interval '10 days' "
                "where device_id = :d"
            ),
            {"d": soon.device_id},
        )
    listed = ecm(role_env, "devices", "expiring")
    assert listed.returncode == 1
    assert soon.device_id in listed.stdout and later.device_id not in listed.stdout

    from api.app import create_app

    metrics_settings = settings.model_copy(update={"metrics_token": "scrape-token-1234"})
    with TestClient(create_app(metrics_settings)) as client:
        body = client.get("/metrics/", headers={"Authorization": "Bearer scrape-token-1234"}).text
    assert f'ecm_device_certificate_expiry_timestamp_seconds{{device_id="{soon.device_id}"}}' in (
        body
    )
    assert later.device_id not in body
    assert "ecm_device_certificates_expiring" in body

    rotated = ecm(role_env, "devices", "rotate", "--due", "--local")
    assert rotated.returncode == 0, rotated.stderr
    assert soon.device_id in rotated.stdout and later.device_id not in rotated.stdout
    with engine.connect() as conn:
        due = [e.device_id for e in rotation.expiring(conn, datetime.now(UTC), 30)]
    assert soon.device_id not in due
