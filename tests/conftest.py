"""Test harness: a real PostgreSQL and a real Mosquitto, started once per session.

They run from .state/test-<pid> on free loopback ports (never the system's 5432/1883), are
migrated with the real alembic migrations, and are stopped when the session ends. Tests never
delete evidence (the store forbids it): each test makes its own providers, devices and ids.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from core.db import make_engine
from core.migrate import upgrade
from core.settings import Settings
from ecm.services import Endpoints, running
from gateway.pki.devices import DeviceCertificates
from gateway.pki.identity import TlsIdentity, service_identity
from gateway.protocol import EventClaims, EventType, events_topic, public_key_to_b64, sign_compact
from gateway.registry import Carer, Device, Provider, RegistryDocument, ServiceUser, seed
from ingest.readiness import wait_for_ingest

ROOT = Path(__file__).resolve().parent.parent


def test_state_dir() -> Path:
    return ROOT / ".state" / f"test-{os.getpid()}"


@pytest.fixture(scope="session")
def stack() -> Iterator[Endpoints]:
    state_dir = test_state_dir()
    shutil.rmtree(state_dir, ignore_errors=True)
    try:
        with running(state_dir) as endpoints:
            yield endpoints
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(stack: Endpoints) -> Settings:
    settings = Settings(
        env="test",
        state_dir=test_state_dir(),
        database_url=stack.database_url,
        mqtt_host=stack.mqtt_host,
        mqtt_port=stack.mqtt_port,
    )
    upgrade(settings)
    return settings


@pytest.fixture(scope="session")
def role_env(settings: Settings) -> dict[str, str]:
    """Environment for running an `ecm` role as a real subprocess against the test stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
    env.update(
        ECM_ENV="test",
        ECM_DATABASE_URL=settings.database_url,
        ECM_MQTT_HOST=settings.mqtt_host,
        ECM_MQTT_PORT=str(settings.mqtt_port),
        ECM_STATE_DIR=str(test_state_dir()),
        ECM_INGEST_REGISTRY_REFRESH_S="0.5",
        # Parallel test sessions on one machine must not fight over the default metrics port.
        ECM_INGEST_METRICS_PORT="0",
    )
    return env


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings, "tests")
    yield engine
    engine.dispose()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@dataclass
class TestDevice:
    __test__ = False  # a fixture's product, not a test class

    """A provider with one carer, one handset and one service user, made for one test."""

    provider_id: str
    carer_id: str
    device_id: str
    service_user_id: str
    tag_uid: str
    key: Ed25519PrivateKey
    seq: int = 0
    sent: list[str] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return events_topic(self.device_id)

    def event(
        self, type: EventType, device_time: datetime | None = None, **overrides: Any
    ) -> tuple[EventClaims, str]:
        self.seq += 1
        claims = EventClaims.build(
            event_id=uuid.uuid4(),
            device_id=self.device_id,
            carer_id=self.carer_id,
            seq=self.seq,
            type=type,
            device_time=device_time or datetime.now(UTC),
            service_user_id=self.service_user_id,
        )
        if overrides:
            claims = claims.model_copy(update=overrides)
        return claims, sign_compact(claims.to_json(), self.key, kid=self.device_id)


@pytest.fixture
def make_device(engine: Engine) -> Callable[[], TestDevice]:
    def _make() -> TestDevice:
        device = TestDevice(
            provider_id=unique("P"),
            carer_id=unique("C"),
            device_id=unique("D"),
            service_user_id=unique("SU"),
            tag_uid=uuid.uuid4().hex[:14].upper(),
            key=Ed25519PrivateKey.generate(),
        )
        document = RegistryDocument(
            providers=[Provider(id=device.provider_id, name="Test Care Ltd")],
            carers=[Carer(id=device.carer_id, provider_id=device.provider_id, name="Ann Carer")],
            devices=[
                Device(
                    id=device.device_id,
                    provider_id=device.provider_id,
                    public_key=public_key_to_b64(device.key.public_key()),
                )
            ],
            service_users=[
                ServiceUser(
                    id=device.service_user_id,
                    name="Bea User",
                    home_lat=52.63,
                    home_lon=1.29,
                    home_tag_uid=device.tag_uid,
                )
            ],
        )
        with engine.begin() as conn:
            seed(conn, document)
        return device

    return _make


@pytest.fixture(scope="session")
def publisher(settings: Settings) -> Iterator[Callable[[str, str | bytes], None]]:
    """Publish at QoS 1 and wait for the broker's PUBACK, as a handset does.

    It connects as the dev/test-only `svc:operator` identity, which may publish on any device's
    topic: these tests are about what ingest does with whatever reaches it. What the broker lets
    a real device certificate do is tested in tests/gateway/test_identity.py.
    """
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique("ecm-test-pub-"))
    service_identity(settings, "operator").apply(client)
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()

    def _publish(topic: str, payload: str | bytes) -> None:
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"broker did not acknowledge publish to {topic}"

    yield _publish
    client.loop_stop()
    client.disconnect()


def mqtt_tls_args(identity: TlsIdentity) -> list[str]:
    """mosquitto_pub/mosquitto_sub options for connecting with `identity`."""
    return [
        "--cafile",
        str(identity.ca_file),
        "--cert",
        str(identity.cert_file),
        "--key",
        str(identity.key_file),
    ]


@pytest.fixture(scope="session")
def provision(settings: Settings, engine: Engine) -> Callable[[list[str]], dict[str, TlsIdentity]]:
    """Issue device certificates the way `ecm devices provision --local` does, for handsets the
    test simulates: cert and key under <state>/pki/devices, broker access granted."""

    def _provision(device_ids: list[str]) -> dict[str, TlsIdentity]:
        with engine.begin() as conn:
            return DeviceCertificates(settings).provision_local(conn, device_ids)

    return _provision


@pytest.fixture(scope="session")
def ingest_worker(
    role_env: dict[str, str], settings: Settings
) -> Iterator[subprocess.Popen[bytes]]:
    """The real `ecm ingest` role, as a subprocess on the test stack."""
    process = subprocess.Popen([sys.executable, "-m", "ecm", "ingest"], env=role_env, cwd=ROOT)
    assert wait_for_ingest(settings, timeout_s=60), "ingest worker did not come online"
    yield process
    process.terminate()
    process.wait(timeout=30)


def wait_until(
    predicate: Callable[[], Any], timeout_s: float = 15.0, interval_s: float = 0.05
) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        time.sleep(interval_s)


def stored_events(engine: Engine, device_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("select * from device_event where device_id = :d order by seq"), {"d": device_id}
        ).mappings()
        return [dict(row) for row in rows]


def quarantined(engine: Engine, **where: str) -> list[dict[str, Any]]:
    clauses = " and ".join(f"{column} = :{column}" for column in where) or "true"
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"select * from quarantined_message where {clauses} order by id"), where
        ).mappings()
        return [dict(row) for row in rows]
