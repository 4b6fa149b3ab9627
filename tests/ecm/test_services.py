"""The private PostgreSQL and Mosquitto: free loopback ports, idempotent, no orphans."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core.process import free_port, port_open
from tests.support.paths import ROOT
from tests.support.servers import starts_servers


def test_free_port_skips_a_taken_preferred_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert free_port(busy) != busy
    assert free_port(None) > 0


@pytest.fixture
@starts_servers
def state_dir() -> Iterator[Path]:
    path = ROOT / ".state" / f"services-test-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    yield path
    subprocess.run([sys.executable, "-m", "ecm", "services", "down"], env=_env(path), check=False)
    shutil.rmtree(path, ignore_errors=True)


def _env(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECM_")}
    return {**env, "ECM_STATE_DIR": str(state_dir)}


def ecm(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecm", *args],
        env=_env(state_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_services_up_is_idempotent_and_down_stops_everything(state_dir: Path) -> None:
    first = ecm(state_dir, "services", "up")
    assert first.returncode == 0, first.stderr
    endpoints = json.loads(first.stdout)
    again = ecm(state_dir, "services", "up")
    assert json.loads(again.stdout) == endpoints

    pg_port = int(endpoints["ECM_DATABASE_URL"].rsplit(":", 1)[1].split("/")[0])
    mqtt_port = int(endpoints["ECM_MQTT_PORT"])
    assert {pg_port, mqtt_port}.isdisjoint({5432, 1883})
    with psycopg.connect(endpoints["ECM_DATABASE_URL"]) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert port_open(mqtt_port)
    assert ecm(state_dir, "services", "status").returncode == 0
    # Roles started later find the servers through the recorded env file.
    assert (state_dir / "ecm.env").read_text().count("ECM_") == 3

    assert ecm(state_dir, "services", "down").returncode == 0
    assert not port_open(pg_port) and not port_open(mqtt_port)
    status = ecm(state_dir, "services", "status")
    assert status.returncode == 1 and "not running" in status.stdout


def test_owned_servers_die_with_their_owner(state_dir: Path) -> None:
    # The owner is killed outright (no cleanup code runs); the kernel must stop its servers.
    script = (
        "import sys, time; from pathlib import Path; from ecm.services import running\n"
        "with running(Path(sys.argv[1])) as ep:\n"
        "    print(ep.database_url.rsplit(':', 1)[1].split('/')[0], ep.mqtt_port, flush=True)\n"
        "    time.sleep(600)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script, str(state_dir)], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    pg_port, mqtt_port = (int(p) for p in owner.stdout.readline().split())
    assert port_open(pg_port) and port_open(mqtt_port)
    owner.kill()
    owner.wait()
    _wait_closed(pg_port)
    _wait_closed(mqtt_port)


def _wait_closed(port: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while port_open(port):
        assert time.monotonic() < deadline, f"port {port} still open after the owner died"
        time.sleep(0.1)
