from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.times import UtcDatetime


class TelephonePin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: str | None = Field(
        default=None,
        pattern=r"^[0-9]{4,8}$",
        description="4 to 8 digits; leave out to have six generated.",
    )


class TelephonePinSet(BaseModel):
    carer_id: str
    set_at: UtcDatetime
    pin: str | None = Field(description="The generated PIN, shown this once; null if chosen.")
