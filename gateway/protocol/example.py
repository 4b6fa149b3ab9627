"""The worked example in docs/protocol.md, computed rather than pasted so it cannot drift."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.protocol.claims import EventClaims, EventType, GpsFix, TagReading
from gateway.protocol.jws import b64url_decode, public_key_to_b64, sign_compact
from gateway.protocol.receipts import (
    Outcome,
    ReceiptEntry,
    carer_message,
    encode_receipt,
    receipts_topic,
)
from gateway.protocol.topics import events_topic

# The Ed25519 test key of RFC 8037 appendix A.1. Public: never use it for a real device.
TEST_PRIVATE_KEY_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"


def example_claims() -> EventClaims:
    return EventClaims.build(
        event_id=UUID("0b7f9a52-3c1e-4d8a-9f5e-2a6c1d4e8b90"),
        device_id="D0001",
        carer_id="C0001",
        seq=42,
        type=EventType.CHECK_IN,
        device_time=datetime(2026, 3, 2, 7, 31, 12, 250000, tzinfo=UTC),
        service_user_id="SU0001",
        # The SUN tap of AN12196 section 3.4 (all-zero keys): UID 04DE5F1EACC040, counter 61.
        tag=TagReading(picc="EF963FF7828658A599F3041510671E88", mac="94EED9EE65337086"),
        gps=GpsFix(
            lat=52.62872,
            lon=1.29345,
            accuracy_m=12.5,
            fix_time=datetime(2026, 3, 2, 7, 31, 9, tzinfo=UTC),
        ),
    )


def worked_example() -> dict[str, Any]:
    key = Ed25519PrivateKey.from_private_bytes(b64url_decode(TEST_PRIVATE_KEY_D))
    claims = example_claims()
    payload = claims.to_json()
    token = sign_compact(payload, key, kid=claims.device_id)
    protected, payload_b64, signature = token.split(".")
    return {
        "private_key_jwk": {
            "kty": "OKP",
            "crv": "Ed25519",
            "d": TEST_PRIVATE_KEY_D,
            "x": public_key_to_b64(key.public_key()),
        },
        "topic": events_topic(claims.device_id),
        "protected_header": b64url_decode(protected).decode(),
        "claims": payload.decode(),
        "signing_input": f"{protected}.{payload_b64}",
        "signature": signature,
        "jws": token,
        **receipt_example(claims),
    }


# A second event of the same handset, a copied tap, to show a quarantined outcome.
EXAMPLE_REFUSED_EVENT = UUID("5f0c2b7e-8d41-4c3a-b6e2-91d07a3f4c15")


def receipt_example(claims: EventClaims) -> dict[str, Any]:
    """The receipt ingest sends for the example event (stored) and a refused one."""
    entries = [
        ReceiptEntry(claims.event_id, Outcome.STORED),
        ReceiptEntry(EXAMPLE_REFUSED_EVENT, Outcome.QUARANTINED, "tag_counter_replayed"),
    ]
    return {
        "receipt_topic": receipts_topic(claims.device_id),
        "receipt": encode_receipt(entries).decode(),
        "carer_shown": {str(entry.event_id): carer_message(entry) for entry in entries},
    }
