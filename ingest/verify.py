"""Turn a received MQTT message into evidence or a quarantine entry, never neither."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from pydantic import ValidationError

from gateway.protocol import (
    EventClaims,
    Rejected,
    Rejection,
    device_from_topic,
    parse_compact,
)
from ingest.directory import Directory
from ingest.evidence import Evidence, establish

__all__ = ["Evidence", "QuarantineEntry", "ReceivedMessage", "VerifiedEvent", "verify"]


@dataclass(frozen=True)
class ReceivedMessage:
    mid: int
    topic: str
    payload: bytes
    received_at: datetime
    qos: int = 1
    # The handset's clock when it transmitted (MQTT v5 user property `sent-at`), if it sent one.
    sent_at: datetime | None = None
    # Which broker connection delivered it: an ack is only valid on that same connection.
    connection: int = 0


@dataclass(frozen=True)
class VerifiedEvent:
    message: ReceivedMessage
    claims: EventClaims
    provider_id: str
    evidence: Evidence = field(default_factory=Evidence)


@dataclass(frozen=True)
class QuarantineEntry:
    message: ReceivedMessage
    reason: Rejection
    detail: str
    device_id: str | None
    event_id: UUID | None


def verify(message: ReceivedMessage, directory: Directory) -> VerifiedEvent | QuarantineEntry:
    device_id: str | None = None
    event_id: UUID | None = None
    try:
        device_id = device_from_topic(message.topic)
        signed = parse_compact(message.payload)
        if signed.kid != device_id:
            raise Rejected(
                Rejection.DEVICE_MISMATCH,
                f"signed by {signed.kid!r} but published on {device_id!r}'s topic",
            )
        device = directory.device(device_id)
        if device is None:
            raise Rejected(Rejection.UNKNOWN_DEVICE, f"device {device_id!r} is not registered")
        signed.verify(device.public_key)
        if device.revoked:
            raise Rejected(Rejection.DEVICE_REVOKED, f"device {device_id!r} is revoked")
        claims = _claims(signed.payload)
        event_id = claims.event_id
        if claims.device_id != device_id:
            raise Rejected(
                Rejection.DEVICE_MISMATCH,
                f"claims name device {claims.device_id!r}, signed by {device_id!r}",
            )
        carer_provider = directory.carer_provider(claims.carer_id)
        if carer_provider is None:
            raise Rejected(Rejection.UNKNOWN_CARER, f"carer {claims.carer_id!r} is not registered")
        if carer_provider != device.provider_id:
            raise Rejected(
                Rejection.CARER_NOT_WITH_PROVIDER,
                f"carer {claims.carer_id!r} is not with provider {device.provider_id!r}",
            )
        if claims.service_user_id is not None and not directory.has_service_user(
            claims.service_user_id
        ):
            raise Rejected(
                Rejection.UNKNOWN_SERVICE_USER,
                f"service user {claims.service_user_id!r} is not registered",
            )
        evidence = establish(claims, directory, bridge=device.bridge)
    except Rejected as rejected:
        return QuarantineEntry(message, rejected.reason, rejected.detail, device_id, event_id)
    return VerifiedEvent(message, claims, device.provider_id, evidence)


def _claims(payload: bytes) -> EventClaims:
    try:
        return EventClaims.model_validate_json(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(error["loc"] == ("ver",) for error in errors):
            raise Rejected(
                Rejection.UNSUPPORTED_VERSION, "protocol version is not 1 or 2"
            ) from None
        summary = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'payload'}: {error['msg']}"
            for error in errors[:5]
        )
        raise Rejected(Rejection.INVALID_CLAIMS, summary) from None
