"""A worker told to stop commits and acknowledges what it holds before it goes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine

from core.settings import Settings
from gateway.protocol import EventType
from tests.ingest.worker_support import (
    end_session,
    operator_client,
    start_worker,
    stop_worker,
    wait_online,
    worker_client_id,
)
from tests.support.devices import TestDevice
from tests.support.evidence import stored_events
from tests.support.polling import wait_until

pytestmark = pytest.mark.usefixtures("ingest_worker")
SLOW_WORKER = 8


def redelivered_to_session(settings: Settings, client_id: str, listen_s: float = 2.0) -> int:
    """Resume a worker's session and count what the broker still had unacknowledged for it."""
    received = 0
    lock = threading.Lock()

    def _on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        nonlocal received
        with lock:
            received += 1

    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 60
    client = operator_client(
        settings,
        client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,  # never ack: this only looks
    )
    client.on_message = _on_message
    client.connect(settings.mqtt_host, settings.mqtt_port, clean_start=False, properties=properties)
    client.loop_start()
    time.sleep(listen_s)
    client.disconnect()
    client.loop_stop()
    return received


def test_sigterm_commits_and_acks_what_the_worker_holds(
    make_device: Callable[[], TestDevice],
    publisher: Callable[[str, str | bytes], None],
    settings: Settings,
    role_env: dict[str, str],
    engine: Engine,
) -> None:
    # A worker that holds each batch open for 5 s, so SIGTERM finds it holding messages.
    process = start_worker(
        role_env,
        SLOW_WORKER,
        ECM_INGEST_BATCH_WAIT_MS="5000",
        ECM_INGEST_BATCH_SIZE="5000",
    )
    client_id = worker_client_id(settings, SLOW_WORKER)
    try:
        assert wait_online(settings, client_id)
        device = make_device()
        for _ in range(100):
            publisher(device.topic, device.event(EventType.CHECK_IN)[1])
        time.sleep(0.5)

        lines = stop_worker(process, timeout_s=30)

        assert process.returncode == 0
        [final] = [line for line in lines if str(line["msg"]).startswith("received=")][-1:]
        assert isinstance(final["received"], int) and final["received"] > 0
        assert final["stored"] == final["received"]
        assert any(str(line["msg"]).startswith("drained") for line in lines)
        wait_until(lambda: len(stored_events(engine, device.device_id)) == 100)
        assert redelivered_to_session(settings, client_id) == 0
    finally:
        if process.poll() is None:
            process.kill()
        end_session(settings, client_id)
