"""A lean asyncio MQTT 3.1.1 publisher for load generation: many connections, QoS 1, PUBACKs.

paho-mqtt spends a thread and tens of microseconds of Python per message; a benchmark that
drives ingest at its limit, or opens 2,000 handset connections at once, needs the simulator
to cost less than the thing measured. Packets are encoded by hand (CONNECT, PUBLISH QoS 1,
PUBACK, DISCONNECT: MQTT 3.1.1 sections 3.1-3.4, 3.14).
"""

from __future__ import annotations

import asyncio
import ssl
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str, keepalive: int = 60, clean: bool = True) -> bytes:
    body = _utf8("MQTT") + bytes([4, 0x02 if clean else 0x00]) + struct.pack("!H", keepalive)
    body += _utf8(client_id)
    return b"\x10" + _length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    body = _utf8(topic) + struct.pack("!H", packet_id) + payload
    return b"\x32" + _length(len(body)) + body


@dataclass
class FloodStats:
    published: int = 0
    acked: int = 0
    # Wall-clock time each message was written, by its index in the caller's list.
    sent_at: dict[int, float] = field(default_factory=dict)
    acked_indexes: set[int] = field(default_factory=set)


# PUBLISH packets written to the socket at once when the window allows: one TLS record (up to
# 16 KiB) carries about twenty signed events instead of one, which saves the simulator and the
# broker a record (and a system call) per event. Paced runs still write one event at a time.
WRITE_BATCH = 20


async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = (await reader.readexactly(1))[0]
    multiplier, length = 1, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            break
        multiplier *= 128
    return header, await reader.readexactly(length)


def split_packets(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The whole packets at the start of `data` (header byte, body) and the bytes left over."""
    packets: list[tuple[int, bytes]] = []
    at = 0
    while len(data) - at >= 2:
        length, multiplier, cursor = 0, 1, at + 1
        while True:
            if cursor >= len(data):
                return packets, data[at:]
            byte = data[cursor]
            cursor += 1
            length += (byte & 0x7F) * multiplier
            if not byte & 0x80:
                break
            multiplier *= 128
        if cursor + length > len(data):
            break
        packets.append((data[at], data[cursor : cursor + length]))
        at = cursor + length
    return packets, data[at:]


async def publish_over_one_connection(
    host: str,
    port: int,
    client_id: str,
    messages: Sequence[tuple[int, str, bytes]],
    stats: FloodStats,
    *,
    max_inflight: int = 500,
    pace: Callable[[], float] | None = None,
    on_ack: Callable[[int], None] | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Publish (index, topic, payload) messages at QoS 1 and wait for every PUBACK.

    `pace`, when given, returns how long to wait before each publish (a fixed-rate load);
    `tls`, a client context (with its certificate) for a broker that requires one.
    """
    reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    writer.write(connect_packet(client_id))
    header, body = await _read_packet(reader)
    if header >> 4 != 2 or body[1] != 0:
        raise RuntimeError(f"broker refused {client_id}: {body!r}")
    free_ids = list(range(1, 65536))
    in_flight: dict[int, int] = {}
    window = max_inflight
    window_open = asyncio.Event()
    window_open.set()
    remaining = len(messages)

    async def _acks() -> None:
        nonlocal remaining, window
        pending = b""
        while remaining:
            data = await reader.read(1 << 16)
            if not data:
                raise ConnectionError(f"broker closed {client_id} with {remaining} unacknowledged")
            packets, pending = split_packets(pending + data)
            for header, body in packets:
                if header >> 4 != 4:
                    continue
                packet_id = (body[0] << 8) | body[1]
                index = in_flight.pop(packet_id)
                free_ids.append(packet_id)
                stats.acked += 1
                stats.acked_indexes.add(index)
                if on_ack:
                    on_ack(index)
                remaining -= 1
                window += 1
            window_open.set()

    acks = asyncio.create_task(_acks())
    position = 0
    while position < len(messages):
        if pace is not None:
            delay = pace()
            if delay > 0:
                await asyncio.sleep(delay)
        while window == 0:
            window_open.clear()
            await window_open.wait()
        take = 1 if pace is not None else min(window, WRITE_BATCH, len(messages) - position)
        packets = []
        for index, topic, payload in messages[position : position + take]:
            packet_id = free_ids.pop()
            in_flight[packet_id] = index
            packets.append(publish_packet(topic, payload, packet_id))
        window -= take
        writer.write(b"".join(packets))
        sent_at = time.time()
        for index, _, _ in messages[position : position + take]:
            stats.sent_at[index] = sent_at
        stats.published += take
        position += take
        if writer.transport.get_write_buffer_size() > 1 << 20:
            await writer.drain()
    await writer.drain()
    await acks
    writer.write(b"\xe0\x00")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
