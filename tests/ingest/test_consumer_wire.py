"""Ingest's own reading of MQTT 5 PUBLISH packets, against paho's decoder and the real broker."""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine

from core.settings import Settings
from gateway.protocol import EventType
from ingest.publish_packet import parse_publish
from tests.ingest.worker_support import operator_client
from tests.support.devices import TestDevice
from tests.support.evidence import quarantined, stored_events
from tests.support.ids import unique
from tests.support.polling import wait_until

QOS1 = 0x32


def publish_packet(topic: str, packet_id: int, properties: Properties, payload: bytes) -> bytes:
    """The variable header and payload of a PUBLISH (what follows the fixed header)."""
    raw = topic.encode()
    return (
        struct.pack("!H", len(raw))
        + raw
        + struct.pack("!H", packet_id)
        + properties.pack()
        + payload
    )


def publish_properties(**values: object) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(properties, name, value)
    return properties


# MQTT strings are UTF-8 without U+0000 (MQTT 5.0 section 1.5.4); the broker refuses others.
mqtt_characters = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
user_properties = st.lists(
    st.tuples(st.sampled_from(["sent-at", "trace", "x"]), st.text(mqtt_characters, max_size=40)),
    max_size=4,
)


@given(
    topic=st.text(mqtt_characters, min_size=1, max_size=80),
    packet_id=st.integers(1, 65535),
    payload=st.binary(max_size=3000),
    users=user_properties,
    expiry=st.none() | st.integers(0, 2**32 - 1),
    content_type=st.none() | st.text(mqtt_characters, max_size=30),
    correlation=st.none() | st.binary(max_size=30),
    format_indicator=st.none() | st.integers(0, 1),
)
def test_reads_what_paho_reads(
    topic: str,
    packet_id: int,
    payload: bytes,
    users: list[tuple[str, str]],
    expiry: int | None,
    content_type: str | None,
    correlation: bytes | None,
    format_indicator: int | None,
) -> None:
    values: dict[str, object] = {}
    if users:
        values["UserProperty"] = users
    if expiry is not None:
        values["MessageExpiryInterval"] = expiry
    if content_type is not None:
        values["ContentType"] = content_type
    if correlation is not None:
        values["CorrelationData"] = correlation
    if format_indicator is not None:
        values["PayloadFormatIndicator"] = format_indicator
    packet = publish_packet(topic, packet_id, publish_properties(**values), payload)

    ours = parse_publish(QOS1, bytearray(packet))
    paho = _packet.decode_publish(QOS1, bytearray(packet), MQTTProtocolVersion.MQTTv5)

    assert ours is not None
    assert ours.topic == paho.topic.decode() == topic
    assert ours.packet_id == paho.mid == packet_id
    assert ours.qos == paho.qos == 1
    assert ours.payload == bytes(paho.payload) == payload
    sent_at = [
        value for name, value in getattr(paho.properties, "UserProperty", []) if name == "sent-at"
    ]
    assert ours.sent_at == (sent_at[-1] if sent_at else None)


def test_leaves_to_paho_what_it_does_not_read() -> None:
    plain = publish_packet("ecm/v1/devices/D1/events", 7, publish_properties(), b"x.y.z")
    assert parse_publish(QOS1, plain) is not None
    # QoS 0 and QoS 2 deliveries, a topic alias, an empty topic, a cut-off packet, bad UTF-8.
    assert parse_publish(0x30, plain) is None
    assert parse_publish(0x34, plain) is None
    aliased = publish_packet("t", 7, publish_properties(TopicAlias=3), b"x")
    assert parse_publish(QOS1, aliased) is None
    assert parse_publish(QOS1, publish_packet("", 7, publish_properties(), b"x")) is None
    assert parse_publish(QOS1, plain[:5]) is None
    assert parse_publish(QOS1, b"\x00\x02\xff\xfe\x00\x07\x00x") is None


@pytest.fixture
def v5_publisher(settings: Settings) -> Iterator[Callable[..., None]]:
    """An MQTT 5 publisher that sets PUBLISH properties, as the simulated handsets do."""
    client = operator_client(settings, unique("ecm-test-v5-"), protocol=mqtt.MQTTv5)
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()

    def _publish(topic: str, payload: str, qos: int = 1, **values: object) -> None:
        info = client.publish(topic, payload, qos=qos, properties=publish_properties(**values))
        info.wait_for_publish(timeout=10)
        assert info.is_published()

    yield _publish
    client.loop_stop()
    client.disconnect()


@pytest.mark.usefixtures("ingest_worker")
def test_sent_at_and_other_properties_reach_the_clock_rules(
    make_device: Callable[[], TestDevice], v5_publisher: Callable[..., None], engine: Engine
) -> None:
    device = make_device()
    now = datetime.now(UTC)
    _, honest = device.event(EventType.CHECK_IN, now - timedelta(hours=3))
    _, set_back = device.event(EventType.CHECK_OUT, now - timedelta(hours=3))

    # Offline for three hours, with its clock right: stored as late-arriving.
    v5_publisher(
        device.topic,
        honest,
        UserProperty=[("trace", "abc"), ("sent-at", now.isoformat())],
        ContentType="application/jose",
        MessageExpiryInterval=3600,
        CorrelationData=uuid.uuid4().bytes,
        PayloadFormatIndicator=1,
    )
    # The same story from a handset whose clock is three hours behind: clock_skew.
    v5_publisher(
        device.topic, set_back, UserProperty=[("sent-at", (now - timedelta(hours=3)).isoformat())]
    )

    [row] = wait_until(lambda: stored_events(engine, device.device_id))
    assert row["late_arriving"] is True
    [entry] = wait_until(lambda: quarantined(engine, device_id=device.device_id))
    assert entry["reason"] == "clock_skew"
    assert "sent-at" in entry["detail"]


@pytest.mark.usefixtures("ingest_worker")
def test_a_qos_0_event_goes_through_pahos_own_decoder_and_is_stored(
    make_device: Callable[[], TestDevice], v5_publisher: Callable[..., None], engine: Engine
) -> None:
    device = make_device()
    claims, token = device.event(EventType.CHECK_IN)
    v5_publisher(device.topic, token, qos=0)
    time.sleep(0.1)
    [row] = wait_until(lambda: stored_events(engine, device.device_id))
    assert row["event_id"] == claims.event_id
