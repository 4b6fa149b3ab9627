from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from api.times import UtcDatetime, Window
from gateway.protocol import EventType


@dataclass(frozen=True)
class EventScope:
    """Which events of one provider a query looks at."""

    provider_id: str
    carer_id: str | None = None
    service_user_id: str | None = None
    window: Window | None = None  # a London day; None means all time


NEXT_OFFSET = Field(description="Offset of the next page; null on the last page.")


class Gps(BaseModel):
    lat: float
    lon: float
    accuracy_m: float | None
    fix_time: UtcDatetime | None


class Event(BaseModel):
    event_id: UUID
    device_id: str
    carer_id: str
    service_user_id: str | None
    seq: int
    type: EventType
    device_time: UtcDatetime
    received_at: UtcDatetime
    tag_uid: str | None
    gps: Gps | None


class EventPage(BaseModel):
    items: list[Event]
    next_offset: int | None = NEXT_OFFSET


class QuarantinedMessage(BaseModel):
    id: int
    received_at: UtcDatetime
    topic: str
    reason: str
    detail: str
    device_id: str | None
    event_id: UUID | None
    payload: str = Field(description="The message as received, UTF-8 with bad bytes replaced.")

    @field_validator("payload", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # Quarantined payloads are often not text at all; show them, never fail on them.
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).decode("utf-8", errors="replace")
        return value


class QuarantinePage(BaseModel):
    items: list[QuarantinedMessage]
    next_offset: int | None = NEXT_OFFSET


@dataclass(frozen=True)
class EventEvidence:
    event_id: UUID
    carer_id: str
    device_id: str
    event_type: str
    device_time: datetime
    received_at: datetime
    tag_uid: str | None
    tag_counter: int | None
    evidence_level: str
    gps_lat: float | None
    gps_lon: float | None
    gps_accuracy_m: float | None
    gps_distance_m: float | None
    gps_within_fence: bool | None
    late_arriving: bool

    @property
    def receive_delay_s(self) -> float:
        """How long after the handset's clock said it happened the server received it."""
        return (self.received_at - self.device_time).total_seconds()
