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
    window = asyncio.Semaphore(max_inflight)
    free_ids = list(range(1, 65536))
    in_flight: dict[int, int] = {}
    done = asyncio.Event()
    remaining = len(messages)

    async def _acks() -> None:
        nonlocal remaining
        while remaining:
            header, body = await _read_packet(reader)
            if header >> 4 != 4:
                continue
            (packet_id,) = struct.unpack("!H", body[:2])
            index = in_flight.pop(packet_id)
            free_ids.append(packet_id)
            stats.acked += 1
            stats.acked_indexes.add(index)
            if on_ack:
                on_ack(index)
            remaining -= 1
            window.release()
        done.set()

    acks = asyncio.create_task(_acks())
    for index, topic, payload in messages:
        if pace is not None:
            delay = pace()
            if delay > 0:
                await asyncio.sleep(delay)
        await window.acquire()
        packet_id = free_ids.pop()
        in_flight[packet_id] = index
        writer.write(publish_packet(topic, payload, packet_id))
        stats.sent_at[index] = time.time()
        stats.published += 1
        if writer.transport.get_write_buffer_size() > 1 << 20:
            await writer.drain()
    if not messages:
        done.set()
    await writer.drain()
    await done.wait()
    await acks
    writer.write(b"\xe0\x00")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
