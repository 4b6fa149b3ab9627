from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.times import UtcDatetime


class Visit(BaseModel):
    carer_id: str
    service_user_id: str | None
    device_id: str = Field(description="The handset of the check-in (of the check-out if none).")
    check_in: UtcDatetime | None
    check_out: UtcDatetime | None
    check_in_event_id: UUID | None
    check_out_event_id: UUID | None
    status: Literal["complete", "open"]
    duration_minutes: float | None
    tag_verified: bool = Field(
        description="The check-in read the tag registered at the service user's home."
    )


class VisitPage(BaseModel):
    items: list[Visit]
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")


class VisitSummary(BaseModel):
    complete: int
    open: int
