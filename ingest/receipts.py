"""Receipts to handsets (protocol v1.1): what became of each event, sent after its commit.

A PUBACK says only that the broker holds a message; a broker crash or a full queue can still
lose it. A receipt says the event's outcome is committed in the database, so a handset keeps
an event until it holds the receipt naming it (docs/protocol.md, receipts).

One receipt message per device per committed batch (split in several when it would pass
MAX_RECEIPT_BYTES), QoS 1, on
`ecm/v1/devices/{device_id}/receipts`, which only ingest may publish to and only that device
may read (gateway.broker's roles, gateway.nats's permissions). The device is the one whose
topic carried the message (the broker's access rules say who that was). Only events whose
signature verified carry an event id here (ingest.verify reads the claims after the
signature), so a receipt never names an id taken from unsigned bytes; a message quarantined
before that gets no receipt, and is quarantined all the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from uuid import UUID

from gateway.protocol import (
    RECEIPT_VERSION,
    Outcome,
    Rejected,
    Rejection,
    device_from_topic,
    receipts_topic,
)
from gateway.protocol.jws import MAX_TOKEN_BYTES
from ingest import metrics

# A receipt message is never larger than the largest event the protocol allows, so it fits
# under the broker's packet limit with its topic and headers (gateway.broker.MAX_PACKET_BYTES).
MAX_RECEIPT_BYTES = MAX_TOKEN_BYTES

__all__ = ["EventOutcome", "Outcome", "ReceiptSink", "receipt_messages", "send_receipts"]


@dataclass(frozen=True)
class EventOutcome:
    """What a committed transaction did with one message."""

    topic: str
    event_id: UUID | None
    outcome: Outcome
    reason: Rejection | None = None


class ReceiptSink(Protocol):
    """Where receipts go: the ingest transport's own broker connection, at QoS 1."""

    def publish_receipts(self, messages: Sequence[tuple[str, bytes]]) -> None: ...


def receipt_messages(outcomes: Iterable[EventOutcome]) -> list[tuple[str, bytes]]:
    """(topic, payload) per device, events in arrival order within each.

    The payload is gateway.protocol.encode_receipt's, written out here without a JSON encoder
    (ids are UUIDs, outcomes and reasons enum values: nothing to escape), as this runs for
    every event ingest takes; tests/ingest/test_receipt_encoding.py holds the two equal.
    """
    by_topic: dict[str, list[str]] = {}
    for item in outcomes:
        if item.event_id is None:
            continue
        topic = _receipts_topic_for(item.topic)
        if topic is None:
            continue
        if item.reason is None:
            entry = f'{{"event_id":"{item.event_id}","outcome":"{item.outcome.value}"}}'
        else:
            entry = (
                f'{{"event_id":"{item.event_id}","outcome":"{item.outcome.value}",'
                f'"reason":"{item.reason.value}"}}'
            )
        by_topic.setdefault(topic, []).append(entry)
    return [
        (topic, payload) for topic, entries in by_topic.items() for payload in _payloads(entries)
    ]


def _payloads(entries: list[str]) -> Iterator[bytes]:
    """One receipt message, or several when a device's entries would pass MAX_RECEIPT_BYTES:
    the broker disconnects a client that publishes a packet over its limit (gateway/broker.py),
    and a batch of 500 events from one handset (a reconnect after a day offline) would."""
    head, tail = f'{{"ver":{RECEIPT_VERSION},"receipts":['.encode(), b"]}"
    chunk: list[bytes] = []
    size = len(head) + len(tail)
    for entry in entries:
        item = entry.encode()
        if chunk and size + len(item) + 1 > MAX_RECEIPT_BYTES:
            yield head + b",".join(chunk) + tail
            chunk, size = [], len(head) + len(tail)
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        yield head + b",".join(chunk) + tail


@lru_cache(maxsize=65536)
def _receipts_topic_for(events_topic: str) -> str | None:
    """The receipts topic of the device whose events topic carried a message, if well formed."""
    try:
        return receipts_topic(device_from_topic(events_topic))
    except (Rejected, ValueError):
        return None


def send_receipts(sink: ReceiptSink, outcomes: Iterable[EventOutcome]) -> int:
    """Publish the receipts of one committed batch; returns how many messages went out."""
    messages = receipt_messages(outcomes)
    sink.publish_receipts(messages)
    metrics.RECEIPTS_SENT.inc(len(messages))
    return len(messages)
