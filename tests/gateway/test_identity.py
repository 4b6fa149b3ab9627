"""Device identity at the real broker (TLS, client certificates, dynamic-security ACLs).

Every attempt here is one a stolen or forged identity could make; each must fail. The count of
attempts is kept in ATTEMPTS so the run can report "N unauthorised attempts, 0 accepted".
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import Engine, text

from core.settings import Settings
from gateway.pki.authority import CertificateAuthority
from gateway.pki.identity import TlsIdentity, service_identity
from gateway.protocol import EventType
from tests.support.devices import TestDevice
from tests.support.evidence import quarantined, stored_events
from tests.support.ids import unique
from tests.support.paths import ROOT
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

Provision = Callable[[list[str]], dict[str, TlsIdentity]]


class Session:
    """One MQTT v5 client, driven synchronously: connect, subscribe, publish, collect."""

    def __init__(self, settings: Settings, identity: TlsIdentity | None, client_id: str) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        if identity is not None:
            identity.apply(self.client)
        else:
            self.client.tls_set(ca_certs=str(service_identity(settings, "operator").ca_file))
        self.settings = settings
        self.connack: ReasonCode | None = None
        self.disconnected = threading.Event()
        self.messages: list[tuple[str, bytes]] = []
        self._events: dict[str, threading.Event] = {}
        self._results: dict[int, list[ReasonCode] | ReasonCode] = {}
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload)))

    def connect(self, timeout: float = 5) -> bool:
        """True when the broker sent a successful CONNACK; False when it refused in any way."""
        try:
            self.client.connect(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=10)
        except (ssl.SSLError, OSError):
            return False
        self.client.loop_start()
        arrived = self._connected.wait(timeout)
        return arrived and self.connack is not None and not self.connack.is_failure

    def _on_connect(self, client: mqtt.Client, u: Any, f: Any, rc: ReasonCode, p: Any) -> None:
        self.connack = rc
        self._connected.set()

    def _on_disconnect(self, *args: Any) -> None:
        # A TLS 1.3 server checks the client certificate after the handshake, so a refused
        # certificate shows as the connection closing before any CONNACK.
        self.disconnected.set()
        self._connected.set()

    def _wait(self, mid: int) -> Any:
        event = self._events.setdefault(str(mid), threading.Event())
        assert event.wait(5), f"no reply for mid {mid}"
        return self._results[mid]

    def _on_subscribe(self, c: Any, u: Any, mid: int, reasons: list[ReasonCode], p: Any) -> None:
        self._results[mid] = reasons
        self._events.setdefault(str(mid), threading.Event()).set()

    def _on_publish(self, c: Any, u: Any, mid: int, reason: ReasonCode, p: Any) -> None:
        self._results[mid] = reason
        self._events.setdefault(str(mid), threading.Event()).set()

    def subscribe(self, topic: str) -> bool:
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        reasons = self._wait(mid)
        return not any(reason.is_failure for reason in reasons)

    def publish(self, topic: str, payload: bytes) -> bool:
        info = self.client.publish(topic, payload, qos=1)
        reason = self._wait(info.mid)
        return not reason.is_failure

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def sessions(settings: Settings) -> Iterator[Callable[..., Session]]:
    opened: list[Session] = []

    def _open(identity: TlsIdentity | None, client_id: str | None = None) -> Session:
        session = Session(settings, identity, client_id or unique("ecm-test-"))
        opened.append(session)
        return session

    yield _open
    for session in opened:
        session.close()


@pytest.fixture
def watcher(settings: Settings, sessions: Callable[..., Session]) -> Session:
    """Sees everything published under ecm/v1 (the dev/test operator identity)."""
    session = sessions(service_identity(settings, "operator"))
    assert session.connect()
    assert session.subscribe("ecm/v1/#")
    return session


def two_handsets(
    make_device: Callable[[], TestDevice], provision: Provision
) -> tuple[TestDevice, TlsIdentity, TestDevice, TlsIdentity]:
    first, second = make_device(), make_device()
    identities = provision([first.device_id, second.device_id])
    return first, identities[first.device_id], second, identities[second.device_id]


@pytest.mark.usefixtures("ingest_worker")
def test_a_device_publishes_on_its_own_topic_only(
    make_device: Callable[[], TestDevice],
    provision: Provision,
    sessions: Callable[..., Session],
    watcher: Session,
    engine: Engine,
) -> None:
    mine, my_identity, other, _ = two_handsets(make_device, provision)
    phone = sessions(my_identity)
    assert phone.connect()
    _, own_event = mine.event(EventType.CHECK_IN)
    assert phone.publish(mine.topic, own_event.encode())
    wait_until(lambda: (mine.topic, own_event.encode()) in watcher.messages)

    # The same phone, signing a perfectly valid event as itself, but on the other's topic; and
    # a forged one in the other's name; and a command to itself.
    forged = {
        other.topic: own_event.encode(),
        f"ecm/v1/devices/{other.device_id}/events": other.event(EventType.CHECK_IN)[1].encode(),
        f"ecm/v1/devices/{other.device_id}/status": b"{}",
        f"ecm/v1/devices/{mine.device_id}/commands": b'{"do":"wipe"}',
        "ecm/v1/ingest/x/status": b'{"state":"online"}',
    }
    for topic, payload in forged.items():
        assert not phone.publish(topic, payload), topic  # PUBACK "not authorised"
    assert phone.publish(mine.topic, b"marker")
    wait_until(lambda: (mine.topic, b"marker") in watcher.messages)
    leaked = [t for t, _ in watcher.messages if t in forged]
    assert leaked == []
    # Ingest has handled everything up to the marker (quarantined: not a JWS) and saw nothing
    # of the refused publishes.
    wait_until(lambda: quarantined(engine, device_id=mine.device_id))
    assert [e["seq"] for e in stored_events(engine, mine.device_id)] == [1]
    assert stored_events(engine, other.device_id) == []
    assert quarantined(engine, device_id=other.device_id) == []


def test_a_device_cannot_subscribe_beyond_its_command_topic(
    make_device: Callable[[], TestDevice], provision: Provision, sessions: Callable[..., Session]
) -> None:
    mine, my_identity, other, _ = two_handsets(make_device, provision)
    phone = sessions(my_identity)
    assert phone.connect()
    for topic in (
        "#",
        "ecm/#",
        "ecm/v1/devices/+/events",
        f"ecm/v1/devices/{other.device_id}/commands",
        f"ecm/v1/devices/{other.device_id}/#",
        "$share/g/ecm/v1/devices/+/events",
        "$SYS/#",
        "$CONTROL/dynamic-security/#",
    ):
        assert not phone.subscribe(topic), topic  # SUBACK with a failure code
    assert phone.subscribe(f"ecm/v1/devices/{mine.device_id}/commands")


@pytest.mark.parametrize("client_id", ["#", "+", "a/#", "ecm/+", "handset-1"])
def test_client_ids_outside_our_prefix_are_refused(
    make_device: Callable[[], TestDevice],
    provision: Provision,
    sessions: Callable[..., Session],
    client_id: str,
) -> None:
    device = make_device()
    identity = provision([device.device_id])[device.device_id]
    phone = sessions(identity, client_id)
    assert not phone.connect()
    assert phone.connack is not None and phone.connack.is_failure


def test_no_certificate_or_another_cas_certificate_is_refused(
    settings: Settings,
    make_device: Callable[[], TestDevice],
    sessions: Callable[..., Session],
    tmp_path: Path,
) -> None:
    device = make_device()
    assert not sessions(None).connect()

    # A perfect look-alike: same device id, valid dates, client usage, but not our CA.
    rogue = CertificateAuthority.create(tmp_path / "rogue", "another master key")
    rogue.issue_device(device.device_id).write(tmp_path / "d.pem", tmp_path / "d.key")
    ours = service_identity(settings, "operator").ca_file
    assert not sessions(TlsIdentity(ours, tmp_path / "d.pem", tmp_path / "d.key")).connect()
    # Our CA's certificate for a device that was never provisioned: connects, but may do nothing.
    ca = CertificateAuthority.load(ours.parent, settings.master_key)
    ca.issue_device(device.device_id).write(tmp_path / "u.pem", tmp_path / "u.key")
    unprovisioned = sessions(TlsIdentity(ours, tmp_path / "u.pem", tmp_path / "u.key"))
    assert unprovisioned.connect()
    assert not unprovisioned.publish(device.topic, b"x")
    assert not unprovisioned.subscribe(f"ecm/v1/devices/{device.device_id}/commands")


def _ecm(role_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecm", *args],
        env=role_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_revoked_certificate_is_dropped_and_refused_and_a_reissued_one_connects(
    settings: Settings,
    role_env: dict[str, str],
    make_device: Callable[[], TestDevice],
    provision: Provision,
    sessions: Callable[..., Session],
    engine: Engine,
    tmp_path: Path,
) -> None:
    device = make_device()
    old = provision([device.device_id])[device.device_id]
    live = sessions(old)
    assert live.connect()

    revoked = _ecm(role_env, "devices", "revoke", device.device_id, "--reason", "stolen")
    assert revoked.returncode == 0, revoked.stderr
    # The live session is dropped at once, not at its next reconnect.
    assert live.disconnected.wait(5)
    wait_until(lambda: not sessions(old).connect(), timeout_s=10)
    with engine.connect() as conn:
        status = conn.execute(
            text("select status from device where id = :d"), {"d": device.device_id}
        ).scalar()
    assert status == "revoked"

    out = tmp_path / "issued"
    reissued = _ecm(role_env, "devices", "reissue", device.device_id, "--out", str(out))
    assert reissued.returncode == 0, reissued.stderr
    assert "PKCS#12 password" in reissued.stderr
    assert oct((out / f"{device.device_id}.key").stat().st_mode & 0o777) == "0o600"
    new = TlsIdentity(old.ca_file, out / f"{device.device_id}.pem", out / f"{device.device_id}.key")
    phone = sessions(new)
    assert phone.connect()
    assert phone.publish(device.topic, b"after reissue")
    # The first certificate stays dead after the re-issue although the device is allowed at the
    # broker again: only the CRL refuses it now, so this is Mosquitto 2.0.11 re-reading crlfile
    # on SIGHUP (no restart happened).
    wait_until(lambda: not sessions(old).connect(), timeout_s=10)

    listed = _ecm(role_env, "devices", "list", device.device_id)
    assert listed.returncode == 0, listed.stderr
    assert "stolen" in listed.stdout


def test_reissue_drops_a_copied_certificate_already_connected(
    role_env: dict[str, str],
    make_device: Callable[[], TestDevice],
    provision: Provision,
    sessions: Callable[..., Session],
    tmp_path: Path,
) -> None:
    device = make_device()
    copied = provision([device.device_id])[device.device_id]
    thief = sessions(copied)
    assert thief.connect()
    result = _ecm(role_env, "devices", "reissue", device.device_id, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert thief.disconnected.wait(5)
    wait_until(lambda: not sessions(copied).connect(), timeout_s=10)


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    from tests.api.api_support import client_for

    yield from client_for(settings)


def test_the_api_provisions_revokes_and_lists(
    settings: Settings,
    api: TestClient,
    make_device: Callable[[], TestDevice],
    sessions: Callable[..., Session],
    tmp_path: Path,
) -> None:
    import base64

    from cryptography.hazmat.primitives.serialization import pkcs12

    device = make_device()
    ca_file = service_identity(settings, "operator").ca_file
    issued = api.post(f"/devices/{device.device_id}/certificate")
    assert issued.status_code == 200, issued.text
    body = issued.json()
    bundle = pkcs12.load_pkcs12(
        base64.b64decode(body["pkcs12_base64"]), body["pkcs12_password"].encode()
    )
    assert bundle.cert is not None
    assert str(bundle.cert.certificate.serial_number) == body["serial"]
    (tmp_path / "c.pem").write_text(body["certificate_pem"])
    (tmp_path / "c.key").write_text(body["private_key_pem"])
    (tmp_path / "c.key").chmod(0o600)
    phone_identity = TlsIdentity(ca_file, tmp_path / "c.pem", tmp_path / "c.key")
    phone = sessions(phone_identity)
    assert phone.connect()

    revoked = api.post(f"/devices/{device.device_id}/revoke", json={"reason": "lost"})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {"device_id": device.device_id, "revoked": 1}
    assert phone.disconnected.wait(5)
    wait_until(lambda: not sessions(phone_identity).connect(), timeout_s=10)

    listed = api.get(f"/devices/{device.device_id}/certificates")
    assert listed.status_code == 200
    [record] = listed.json()["items"]
    assert record["reason"] == "lost" and record["live"] is False

    again = api.post(
        f"/devices/{device.device_id}/certificate", json={"pkcs12_password": "chosen-by-me"}
    )
    assert again.status_code == 200, again.text
    assert again.json()["pkcs12_password"] == "chosen-by-me"
    pkcs12.load_pkcs12(base64.b64decode(again.json()["pkcs12_base64"]), b"chosen-by-me")
    missing = unique("nope-")
    assert api.get(f"/devices/{missing}/certificates").status_code == 404
    assert api.post("/devices/no-such-device/certificate").status_code == 404


def test_a_broker_reload_keeps_the_ca_key_encrypted(settings: Settings) -> None:
    key_file = service_identity(settings, "operator").ca_file.parent / "ca.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()
    with pytest.raises(ValueError, match="wrong ECM_MASTER_KEY"):
        CertificateAuthority.load(key_file.parent, "not the master key")
    assert os.environ.get("ECM_MASTER_KEY") in (None, settings.master_key)


def test_certificate_operations_are_for_administrators_only(
    settings: Settings, make_device: Callable[[], TestDevice], engine: Engine
) -> None:
    from api.app import create_app
    from api.deps import Principal, current_principal

    device = make_device()
    app = create_app(settings)
    app.dependency_overrides[current_principal] = lambda: Principal(
        subject="manager", roles=frozenset({"manager"}), provider_id=device.provider_id
    )
    with TestClient(app) as client:
        responses = [
            client.post(f"/devices/{device.device_id}/certificate"),
            client.post(f"/devices/{device.device_id}/revoke"),
            client.get(f"/devices/{device.device_id}/certificates"),
        ]
    assert [r.status_code for r in responses] == [403, 403, 403]
    assert all(r.json()["error"]["code"] == "forbidden" for r in responses)
    with engine.connect() as conn:
        issued = conn.execute(
            text("select count(*) from device_certificate where device_id = :d"),
            {"d": device.device_id},
        ).scalar()
    assert issued == 0


@pytest.mark.usefixtures("ingest_worker")
def test_a_device_guessing_ingests_client_id_does_not_take_its_session(
    settings: Settings,
    make_device: Callable[[], TestDevice],
    provision: Provision,
    sessions: Callable[..., Session],
    publisher: Callable[[str, str | bytes], None],
    engine: Engine,
) -> None:
    device = make_device()
    identity = provision([device.device_id])[device.device_id]
    guesses = {f"ecm-ingest-{socket.gethostname()}-0", "ecm-ingest-ingest-1-0"}
    # Ingest workers announce themselves (retained) under their client ids.
    watcher = sessions(service_identity(settings, "operator"))
    assert watcher.connect() and watcher.subscribe("ecm/v1/ingest/+/status")
    workers = wait_until(lambda: {topic.split("/")[3] for topic, _ in watcher.messages})
    assert workers and not workers & guesses
    for guess in guesses:
        squatter = sessions(identity, guess)
        assert squatter.connect()  # a legal client id; but not the session ingest holds
    _, token = device.event(EventType.CHECK_IN)
    publisher(device.topic, token)
    [stored] = wait_until(lambda: stored_events(engine, device.device_id))
    assert stored["seq"] == 1


def test_pki_sync_brings_the_broker_in_line_with_the_registry(
    settings: Settings,
    role_env: dict[str, str],
    make_device: Callable[[], TestDevice],
    provision: Provision,
    sessions: Callable[..., Session],
    engine: Engine,
) -> None:
    device = make_device()
    identity = provision([device.device_id])[device.device_id]
    live = sessions(identity)
    assert live.connect()
    # Revoked in the registry only (e.g. a seeded document): the broker does not know yet.
    with engine.begin() as conn:
        conn.execute(
            text("update device set status = 'revoked' where id = :d"), {"d": device.device_id}
        )
    assert live.publish(device.topic, b"still allowed")

    synced = _ecm(role_env, "pki", "sync")
    assert synced.returncode == 0, synced.stderr
    assert live.disconnected.wait(5)
    # Its certificate is not revoked (only `ecm devices revoke` does that), so it connects; but
    # the broker now allows it nothing.
    again = sessions(identity)
    assert again.connect()
    assert not again.publish(device.topic, b"after sync")


def test_a_refused_broker_command_is_an_error(settings: Settings) -> None:
    from gateway.pki.broker import BrokerAccess, BrokerAccessError

    with (
        BrokerAccess(
            settings.mqtt_host, settings.mqtt_port, service_identity(settings, "admin")
        ) as broker,
        pytest.raises(BrokerAccessError, match="refused"),
    ):
        broker.run([{"command": "createRole"}])  # no role name
