"""What the visits domain answers with: visits as read, corrections, schedule imports, alerts,
webhook deliveries and KPIs. The API sends them as they are (api.visits.schemas re-exports them
and adds the wire-only shapes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from core.times import UtcDatetime
from core.vocabulary import Verification, VisitStatus


class CarerStay(BaseModel):
    carer_id: str
    device_id: str | None
    check_in: UtcDatetime | None = Field(description="Corrected time when a correction counts.")
    check_out: UtcDatetime | None
    check_in_event_id: UUID | None
    check_out_event_id: UUID | None
    verification: Verification
    correction_id: int | None


class VisitAnomaly(BaseModel):
    code: str
    carer_id: str | None
    event_id: UUID | None
    detail: str


class Visit(BaseModel):
    id: UUID
    provider_id: str
    service_user_id: str | None
    london_day: date
    planned_visit_ref: str | None
    planned_start: UtcDatetime | None
    planned_minutes: int | None
    carers_required: int | None
    check_in: UtcDatetime | None
    check_out: UtcDatetime | None
    minutes: int | None = Field(
        description="Whole minutes: one carer's stay, or the time all carers were present."
    )
    status: VisitStatus
    verification: Verification
    corrections_pending: int = Field(description="Corrections awaiting council approval.")
    carers: list[CarerStay]
    anomalies: list[VisitAnomaly]


class VisitPage(BaseModel):
    items: list[Visit]
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")


class VisitSummary(BaseModel):
    complete: int = Field(description="Carer stays with both a check-in and a check-out.")
    open: int = Field(description="Carer stays missing one end.")
    by_status: dict[str, int]


class CorrectionRequest(BaseModel):
    carer_id: str | None = Field(default=None, description="Required on a double-handed visit.")
    check_in: UtcDatetime | None = None
    check_out: UtcDatetime | None = None
    reason_code: str
    note: str = Field(min_length=1, max_length=2000)


class Correction(BaseModel):
    id: int
    visit_id: UUID
    segment_id: UUID
    carer_id: str
    reason_code: str
    note: str
    before: dict[str, Any]
    after: dict[str, Any]
    minutes_moved: int
    requested_by: str
    requested_at: UtcDatetime
    needs_approval: bool
    approved_by: str | None
    approved_at: UtcDatetime | None
    counts: bool = Field(description="Counts for payment: within threshold, or approved.")


class ScheduleRowError(BaseModel):
    line: int
    visit_ref: str | None
    reason: str


class ScheduleImport(BaseModel):
    import_id: int | None
    rows_read: int
    created: int
    changed: int
    cancelled: int
    unchanged: int
    rejected: int
    errors: list[ScheduleRowError]


class Alert(BaseModel):
    id: int
    visit_ref: str
    kind: Literal["late", "missed"]
    service_user_id: str
    planned_start: UtcDatetime
    threshold_at: UtcDatetime
    raised_at: UtcDatetime
    cleared_at: UtcDatetime | None


class AlertList(BaseModel):
    items: list[Alert]


class WebhookRequest(BaseModel):
    url: str = Field(max_length=2000)


class Webhook(BaseModel):
    id: int
    url: str
    secret: str = Field(description="Shown once: HMAC-SHA256 key for X-ECM-Signature.")


class WebhookDelivery(BaseModel):
    id: int
    notification_id: int
    endpoint_id: int
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: UtcDatetime
    delivered_at: UtcDatetime | None


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDelivery]


class KpiDay(BaseModel):
    london_day: date
    planned: int
    delivered: int
    on_time_15: int
    on_time_30: int
    missed: int
    unplanned: int
    planned_minutes: int
    delivered_planned_minutes: int
    delivered_minutes: int
    tag_or_code_verified: int


class ProviderKpis(BaseModel):
    provider_id: str
    lot: str | None
    planned: int
    delivered: int
    on_time_15: int
    on_time_30: int
    on_time_15_share: float | None
    on_time_30_share: float | None
    missed: int
    unplanned: int
    planned_minutes: int
    delivered_planned_minutes: int
    planned_minutes_delivered_share: float | None
    delivered_minutes: int
    tag_or_code_verified: int
    tag_or_code_verified_share: float | None
    continuity_of_carer: float | None
    lot_hours_share: float | None
    days: list[KpiDay]


class CouncilPolicy(BaseModel):
    late_after_minutes: int = Field(gt=0, le=24 * 60)
    missed_cutoff: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    correction_approval_minutes: int = Field(ge=0, le=24 * 60)


@dataclass(frozen=True)
class DuePlan:
    """A planned visit as a page of the day lists it."""

    visit_ref: str
    service_user_id: str
    planned_start: datetime
    planned_minutes: int
    carers_required: int
