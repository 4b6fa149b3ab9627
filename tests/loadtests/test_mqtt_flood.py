"""The benchmark's own MQTT publisher: whole packets out, every PUBACK counted, nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from core.settings import Settings
from gateway.pki.identity import service_identity
from gateway.protocol import EventType
from loadtests.mqtt_flood import FloodStats, publish_over_one_connection, split_packets
from tests.support.devices import TestDevice
from tests.support.evidence import stored_events
from tests.support.ids import unique
from tests.support.polling import wait_until


def test_split_packets_keeps_a_cut_packet_for_the_next_read() -> None:
    pubacks = b"\x40\x02\x00\x01\x40\x02\x00\x02"
    long_body = bytes(200)
    long_packet = b"\x30\xc8\x01" + long_body  # remaining length 200 takes two bytes

    assert split_packets(pubacks) == ([(0x40, b"\x00\x01"), (0x40, b"\x00\x02")], b"")
    assert split_packets(pubacks[:6]) == ([(0x40, b"\x00\x01")], b"\x40\x02")
    assert split_packets(long_packet[:2]) == ([], long_packet[:2])
    assert split_packets(long_packet[:100]) == ([], long_packet[:100])
    assert split_packets(long_packet + pubacks[:4]) == (
        [(0x30, long_body), (0x40, b"\x00\x01")],
        b"",
    )


@pytest.mark.usefixtures("ingest_worker")
def test_a_flood_in_small_windows_is_acknowledged_and_stored_once(
    settings: Settings, make_device: Callable[[], TestDevice], engine: Engine
) -> None:
    device = make_device()
    tokens = [device.event(EventType.CHECK_IN)[1] for _ in range(300)]
    stats = FloodStats()
    asyncio.run(
        publish_over_one_connection(
            settings.mqtt_host,
            settings.mqtt_port,
            unique("ecm-test-flood-"),
            [(i, device.topic, token.encode()) for i, token in enumerate(tokens)],
            stats,
            max_inflight=7,  # a window that is not a multiple of the write batch
            tls=service_identity(settings, "operator").ssl_context(),
        )
    )
    assert stats.published == stats.acked == 300
    assert stats.acked_indexes == set(range(300))
    rows = wait_until(lambda: len(stored_events(engine, device.device_id)) == 300, timeout_s=30)
    assert rows
    assert [row["seq"] for row in stored_events(engine, device.device_id)] == list(range(1, 301))
