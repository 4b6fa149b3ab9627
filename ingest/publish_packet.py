"""Read an MQTT 5 PUBLISH packet the way ingest needs it: topic, packet id, `sent-at`, payload.

paho-mqtt builds a Properties object, an MQTTMessage and a debug log line for every message,
and matches the topic against the callbacks: about 40 us of Python per event, a sixth of what
ingest spends on one. Device events are QoS 1 PUBLISHes with at most a few simple
properties, so this reads them directly (MQTT 5.0 sections 3.3.2 and 2.2.2). Anything
unusual (a property outside the table below, such as a topic alias; bad UTF-8) returns None and the
caller hands the packet to paho's own decoder, which also knows how to refuse it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.clock import SENT_AT_PROPERTY

# Property identifier -> how its value is encoded (MQTT 5.0 section 2.2.2.2).
_BYTE, _FOUR_BYTE, _UTF8, _BINARY, _VARINT, _PAIR = range(6)
_PROPERTY_KINDS = {
    0x01: _BYTE,  # payload format indicator
    0x02: _FOUR_BYTE,  # message expiry interval
    0x03: _UTF8,  # content type
    0x08: _UTF8,  # response topic
    0x09: _BINARY,  # correlation data
    0x0B: _VARINT,  # subscription identifier
    0x26: _PAIR,  # user property
}


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    packet_id: int
    qos: int
    payload: bytes
    # The `sent-at` user property as sent, if there was one (it is advisory and unsigned).
    sent_at: str | None


def _varint(data: bytes | bytearray, at: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(4):
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    raise ValueError("variable byte integer longer than 4 bytes")


def _utf8(data: bytes | bytearray, at: int) -> tuple[str, int]:
    length = int.from_bytes(data[at : at + 2], "big")
    end = at + 2 + length
    if end > len(data):
        raise ValueError("string runs past the packet")
    return data[at + 2 : end].decode("utf-8"), end


def parse_publish(command: int, packet: bytes | bytearray) -> Publish | None:
    """The PUBLISH of a QoS 1 delivery, or None to let paho decode it (QoS 0 and 2 included)."""
    qos = (command >> 1) & 0x03
    if qos != 1:
        return None
    try:
        topic, at = _utf8(packet, 0)
        if not topic:
            return None  # a topic alias: paho keeps the alias table
        packet_id = int.from_bytes(packet[at : at + 2], "big")
        properties_length, at = _varint(packet, at + 2)
        end = at + properties_length
        if end > len(packet):
            return None
        sent_at = None
        while at < end:
            identifier = packet[at]
            kind = _PROPERTY_KINDS.get(identifier)
            at += 1
            if kind is None:
                return None
            if kind == _PAIR:
                name, at = _utf8(packet, at)
                value, at = _utf8(packet, at)
                if name == SENT_AT_PROPERTY:
                    sent_at = value
            elif kind in (_UTF8, _BINARY):
                at += 2 + int.from_bytes(packet[at : at + 2], "big")
            elif kind == _VARINT:
                _, at = _varint(packet, at)
            else:
                at += 1 if kind == _BYTE else 4
        if at != end:
            return None
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    return Publish(topic, packet_id, qos, bytes(packet[end:]), sent_at)
