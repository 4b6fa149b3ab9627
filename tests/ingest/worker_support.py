"""Extra ingest workers for tests that need more than the session's one, and their clean-up.

A worker's persistent session outlives the process: the broker keeps routing a share of the
shared subscription to it. A test that retires a worker slot for good must also end that
session, or later tests' events would wait in its queue.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.settings import Settings
from gateway.pki.identity import service_identity, session_client_id

ROOT = Path(__file__).resolve().parents[2]
_LOGS: dict[int, IO[bytes]] = {}


def worker_client_id(settings: Settings, index: int) -> str:
    return session_client_id(settings, f"ingest-{socket.gethostname()}-{index}")


def operator_client(settings: Settings, client_id: str, **options: object) -> mqtt.Client:
    """A client with the dev/test operator identity, which may read every ecm/v1 topic."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, **options)  # type: ignore[arg-type]
    service_identity(settings, "operator").apply(client)
    return client


def start_worker(role_env: dict[str, str], index: int, **env: str) -> subprocess.Popen[bytes]:
    """`ecm ingest --worker-index N`, its JSON log in a file (a pipe nobody reads would fill
    up and stall the worker); `stop_worker` returns the parsed lines."""
    log_file = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the worker)
    process = subprocess.Popen(
        [sys.executable, "-m", "ecm", "ingest", "--worker-index", str(index)],
        env={**role_env, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    _LOGS[process.pid] = log_file
    return process


def wait_online(settings: Settings, client_id: str, timeout_s: float = 60.0) -> bool:
    """True once this worker's retained status says it is subscribed."""
    online = threading.Event()
    topic = f"ecm/v1/ingest/{client_id}/status"

    def _on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if json.loads(message.payload).get("state") == "online":
            online.set()

    client = operator_client(settings, f"ecm-t-wait-{os.getpid()}")
    client.on_message = _on_message
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    try:
        return online.wait(timeout_s)
    finally:
        client.loop_stop()
        client.disconnect()


def stop_worker(
    process: subprocess.Popen[bytes], timeout_s: float = 30.0
) -> list[dict[str, object]]:
    """SIGTERM (a graceful drain), then the worker's JSON log lines."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.wait(timeout=timeout_s)
    return worker_log(process)


def worker_log(process: subprocess.Popen[bytes]) -> list[dict[str, object]]:
    log_file = _LOGS[process.pid]
    log_file.seek(0)
    lines = []
    for line in log_file.read().decode(errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def end_session(settings: Settings, client_id: str) -> None:
    """Discard a retired worker's persistent session (clean start, expiry 0)."""
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 0
    client = operator_client(settings, client_id, protocol=mqtt.MQTTv5)
    client.connect(settings.mqtt_host, settings.mqtt_port, clean_start=True, properties=properties)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


@contextmanager
def extra_worker(
    settings: Settings, role_env: dict[str, str], index: int, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    process = start_worker(role_env, index, **env)
    try:
        assert wait_online(settings, worker_client_id(settings, index)), (
            f"worker {index} not online"
        )
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        end_session(settings, worker_client_id(settings, index))
