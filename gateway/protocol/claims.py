"""The claims a device signs for each visit event (protocol versions 1 and 2).

Version 2 is version 1 plus one optional object, `landline`, which only the gateway's telephony
bridge sends (docs/protocol.md, docs/telephony.md); a version 1 device is unaffected."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

PROTOCOL_VERSION: Literal[1] = 1
# The version that adds `landline`; events without it keep version 1.
LANDLINE_VERSION: Literal[2] = 2
SUPPORTED_VERSIONS = (PROTOCOL_VERSION, LANDLINE_VERSION)

Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class EventType(StrEnum):
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"


class TagReading(BaseModel):
    """A tap of the home's NTAG 424 DNA as read from the tag's URL (Secure Unique NFC, AN12196):
    the encrypted PICCData (UID and read counter) and the truncated SDMMAC, upper-case hex as
    the tag mirrors them. The UID is not sent in the clear: ingest decrypts it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    picc: Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{32}$")]
    mac: Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{16}$")]


# The one-time code shown by the home's TOTP fob, typed in by the carer (8 digits by default).
FobCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6,10}$")]


# A telephone number in E.164 form (gateway/telephony/numbers.py normalises to it).
PhoneNumber = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]


class LandlineCall(BaseModel):
    """The telephone call a telephony bridge turned into this event: the caller's number (the
    home's landline, as the telephony provider reported it), the number called, and the
    provider's id of the call."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    caller: PhoneNumber
    called: PhoneNumber
    call_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class GpsFix(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float = Field(ge=0)
    fix_time: AwareDatetime


class EventClaims(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    ver: Literal[1, 2]
    event_id: UUID
    device_id: Ref
    carer_id: Ref
    seq: int = Field(ge=0, lt=2**63)
    type: EventType
    device_time: AwareDatetime
    service_user_id: Ref | None = None
    tag: TagReading | None = None
    code: FobCode | None = None
    gps: GpsFix | None = None
    landline: LandlineCall | None = None

    @field_validator("ver", mode="before")
    @classmethod
    def _ver_is_a_number(cls, value: object) -> object:
        # JSON true equals 1 to Python's Literal check; a handset sending it has a bug.
        if isinstance(value, bool):
            raise ValueError("ver must be the number 1 or 2")
        return value

    @model_validator(mode="after")
    def _landline_is_version_2(self) -> EventClaims:
        # Version 1 refuses fields it does not define: a v1 event carrying `landline` is not v1.
        if self.landline is not None and self.ver < LANDLINE_VERSION:
            raise ValueError("landline is a field of protocol version 2, not 1")
        return self

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def build(
        cls,
        *,
        event_id: UUID,
        device_id: str,
        carer_id: str,
        seq: int,
        type: EventType,
        device_time: datetime,
        service_user_id: str | None = None,
        tag: TagReading | None = None,
        code: str | None = None,
        gps: GpsFix | None = None,
        landline: LandlineCall | None = None,
    ) -> EventClaims:
        return cls(
            ver=LANDLINE_VERSION if landline is not None else PROTOCOL_VERSION,
            event_id=event_id,
            device_id=device_id,
            carer_id=carer_id,
            seq=seq,
            type=type,
            device_time=device_time,
            service_user_id=service_user_id,
            tag=tag,
            code=code,
            gps=gps,
            landline=landline,
        )
