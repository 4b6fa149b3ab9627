"""Wire protocol v1: signed visit events from handsets (see docs/protocol.md).

The public surface is small: build and sign an event on a handset, parse and verify one at ingest.
"""

from gateway.protocol.claims import (
    LANDLINE_VERSION,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    EventClaims,
    EventType,
    GpsFix,
    LandlineCall,
    TagReading,
)
from gateway.protocol.jws import (
    SignedEvent,
    b64url_decode,
    b64url_encode,
    parse_compact,
    public_key_from_b64,
    public_key_to_b64,
    sign_compact,
)
from gateway.protocol.receipts import (
    RECEIPT_VERSION,
    BadReceipt,
    Outcome,
    ReceiptEntry,
    carer_message,
    encode_receipt,
    parse_receipt,
    receipts_topic,
)
from gateway.protocol.rejection import Rejected, Rejection
from gateway.protocol.topics import device_from_topic, events_subscription, events_topic

__all__ = [
    "LANDLINE_VERSION",
    "PROTOCOL_VERSION",
    "RECEIPT_VERSION",
    "SUPPORTED_VERSIONS",
    "BadReceipt",
    "EventClaims",
    "EventType",
    "GpsFix",
    "LandlineCall",
    "Outcome",
    "ReceiptEntry",
    "Rejected",
    "Rejection",
    "SignedEvent",
    "TagReading",
    "b64url_decode",
    "b64url_encode",
    "carer_message",
    "device_from_topic",
    "encode_receipt",
    "events_subscription",
    "events_topic",
    "parse_compact",
    "parse_receipt",
    "public_key_from_b64",
    "public_key_to_b64",
    "receipts_topic",
    "sign_compact",
]
