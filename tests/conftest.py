"""Test harness: a real PostgreSQL and a real Mosquitto, started once per session.

They run from .state/test-<pid> on free loopback ports (never the system's 5432/1883), are
migrated with the real alembic migrations, and are stopped when the session ends. Tests never
delete evidence (the store forbids it): each test makes its own providers, devices and ids.

Only fixtures live here; what tests import lives in tests/support/. A test that uses a fixture
needing the real servers is marked `integration` automatically (pytest_collection_modifyitems),
so `make test-fast` (-m "not integration") runs the rest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import Engine

from core.db import make_engine
from core.migrate import upgrade
from core.settings import Settings
from ecm.services import Endpoints, running
from gateway.pki.devices import DeviceCertificates
from gateway.pki.identity import TlsIdentity, service_identity
from ingest.readiness import wait_for_ingest
from tests.support.devices import TestDevice, new_test_device
from tests.support.ids import unique
from tests.support.paths import ROOT, session_state_dir
from tests.support.servers import needs_servers, starts_servers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts real servers (through any fixture marked @starts_servers, however
    indirectly) is an integration test; `-m "not integration"` leaves it out."""
    for item in items:
        if needs_servers(item):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
@starts_servers
def stack() -> Iterator[Endpoints]:
    state_dir = session_state_dir()
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
        state_dir=session_state_dir(),
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
        ECM_STATE_DIR=str(session_state_dir()),
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


@pytest.fixture
def make_device(engine: Engine) -> Callable[[], TestDevice]:
    return lambda: new_test_device(engine)


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
