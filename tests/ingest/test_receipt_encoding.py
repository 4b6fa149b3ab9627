"""Ingest's receipts are the protocol's encoding, grouped per device, naming only what it may."""

from __future__ import annotations

import json
import uuid

from gateway.protocol import Outcome, ReceiptEntry, Rejection, encode_receipt, parse_receipt
from ingest.receipts import EventOutcome, receipt_messages


def test_one_receipt_per_device_in_arrival_order_encoded_as_the_protocol_says() -> None:
    a1, a2, b1, a3 = (uuid.uuid4() for _ in range(4))
    outcomes = [
        EventOutcome("ecm/v1/devices/A-1/events", a1, Outcome.STORED),
        EventOutcome("ecm/v1/devices/A-1/events", a2, Outcome.QUARANTINED, Rejection.CLOCK_SKEW),
        EventOutcome("ecm/v1/devices/B.2/events", b1, Outcome.DUPLICATE),
        EventOutcome("ecm/v1/devices/A-1/events", a3, Outcome.DUPLICATE),
        # Nothing to name (unreadable before the signature) or nobody to send it to.
        EventOutcome("ecm/v1/devices/A-1/events", None, Outcome.QUARANTINED, Rejection.NOT_JWS),
        EventOutcome("somewhere/else", uuid.uuid4(), Outcome.QUARANTINED, Rejection.BAD_TOPIC),
    ]
    messages = dict(receipt_messages(outcomes))
    assert list(messages) == ["ecm/v1/devices/A-1/receipts", "ecm/v1/devices/B.2/receipts"]
    assert messages["ecm/v1/devices/A-1/receipts"] == encode_receipt(
        [
            ReceiptEntry(a1, Outcome.STORED),
            ReceiptEntry(a2, Outcome.QUARANTINED, "clock_skew"),
            ReceiptEntry(a3, Outcome.DUPLICATE),
        ]
    )
    assert messages["ecm/v1/devices/B.2/receipts"] == encode_receipt(
        [ReceiptEntry(b1, Outcome.DUPLICATE)]
    )
    for payload in messages.values():
        json.loads(payload)
        assert parse_receipt(payload)


def test_every_reason_encodes_as_valid_json() -> None:
    event_id = uuid.uuid4()
    for reason in Rejection:
        [(_, payload)] = receipt_messages(
            [EventOutcome("ecm/v1/devices/D1/events", event_id, Outcome.QUARANTINED, reason)]
        )
        assert payload == encode_receipt([ReceiptEntry(event_id, Outcome.QUARANTINED, reason)])


def test_a_large_batch_for_one_device_is_split_under_the_brokers_packet_limit() -> None:
    """500 events of one handset (back after a day offline) are ~45 KB of receipt: the broker
    would disconnect ingest for one packet over its limit, so it goes in several messages."""
    from gateway.broker import MAX_PACKET_BYTES
    from ingest.receipts import MAX_RECEIPT_BYTES

    ids = [uuid.uuid4() for _ in range(500)]
    outcomes = [
        EventOutcome("ecm/v1/devices/D1/events", i, Outcome.QUARANTINED, Rejection.CLOCK_SKEW)
        for i in ids
    ]
    messages = receipt_messages(outcomes)
    assert len(messages) > 1
    assert {topic for topic, _ in messages} == {"ecm/v1/devices/D1/receipts"}
    named = []
    for _, payload in messages:
        assert len(payload) <= MAX_RECEIPT_BYTES < MAX_PACKET_BYTES - 100
        named += [entry.event_id for entry in parse_receipt(payload)]
    assert named == ids  # every event once, in arrival order
