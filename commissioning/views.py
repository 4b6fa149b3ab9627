"""What commissioning takes and answers with: lots, settings, requests and their cascades,
offers, packages, imports and monitoring. The API sends them as they are."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from commissioning.model import (
    DAY_NAMES,
    CascadeMode,
    DeclineReason,
    EventKind,
    LotRole,
    OfferStatus,
    RequestStatus,
    VisitSlot,
)
from core.times import UtcDatetime

Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
DayName = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeeklyVisit(_Body):
    """One line of the weekly pattern: on these days, a visit at `start` (London time)."""

    days: list[DayName] = Field(min_length=1, max_length=7)
    start: ClockTime = Field(description="HH:MM, 24-hour London time.")
    minutes: int = Field(ge=1, le=1440)
    carers: int = Field(default=1, ge=1, le=4, description="Carers at once (2: double-handed).")
    service_type: str = Field(default="personal care", min_length=1, max_length=64)

    def slot(self) -> VisitSlot:
        return VisitSlot(
            days=frozenset(DAY_NAMES.index(day) for day in self.days),
            start=time.fromisoformat(self.start),
            minutes=self.minutes,
            carers=self.carers,
            service_type=self.service_type,
        )

    @classmethod
    def of(cls, slot: VisitSlot) -> WeeklyVisit:
        return cls.model_validate(slot.as_json())


class RequestDraft(_Body):
    council_id: Ref | None = Field(
        default=None, description="Administrators only; a council officer's own council."
    )
    request_ref: Ref | None = Field(
        default=None, description="The case system's reference; SR-<id> when left out."
    )
    service_user_id: Ref
    lot_id: Ref
    start_date: date
    end_date: date | None = None
    visits: list[WeeklyVisit] = Field(min_length=1, max_length=50)
    notes: str = Field(default="", max_length=2000)


class Withdrawal(_Body):
    reason: str = Field(min_length=1, max_length=500)


class Reoffer(_Body):
    provider_id: Ref | None = Field(
        default=None,
        description="Offer to this provider of the lot alone; left out, the cascade starts "
        "again from the lead with the lineup in force today.",
    )


class Decline(_Body):
    reason: DeclineReason
    note: str = Field(default="", max_length=2000, description="Required for `other`.")


class LotLineup(_Body):
    name: str = Field(min_length=1, max_length=200)
    effective_from: date
    lead: Ref | None = None
    additional: list[Ref] = Field(default_factory=list, max_length=100)
    dps: list[Ref] = Field(default_factory=list, max_length=100)


class CommissioningPolicy(_Body):
    response_working_hours: int = Field(
        default=24, ge=1, le=720, description="Working hours a provider has to answer an offer."
    )
    additional_mode: CascadeMode = CascadeMode.ONE_AT_A_TIME
    dps_mode: CascadeMode = CascadeMode.ALL_AT_ONCE


class PackageChangeRequest(_Body):
    effective_from: date = Field(description="First London day of the new pattern.")
    visits: list[WeeklyVisit] = Field(min_length=1, max_length=50)


class PackageEnd(_Body):
    end_date: date = Field(description="Last London day of care.")


class Lineup(BaseModel):
    effective_from: date
    lead: str | None
    additional: list[str]
    dps: list[str]


class CouncilLot(BaseModel):
    council_id: str
    id: str
    name: str
    in_force: Lineup | None = Field(description="The lineup in force today (London).")
    lineups: list[Lineup] = Field(description="Every lineup, oldest first.")


class CouncilLotList(BaseModel):
    items: list[CouncilLot]


class LotSet(BaseModel):
    lot: CouncilLot
    changed: bool = Field(description="False when that lineup was already set as given.")


class Offer(BaseModel):
    id: int
    request_id: int
    provider_id: str
    role: LotRole
    round: int = Field(description="0 for the first cascade, +1 for each re-offer.")
    stage: int
    offered_at: UtcDatetime
    deadline: UtcDatetime
    status: OfferStatus
    decided_at: UtcDatetime | None
    decided_by: str | None
    decline_reason: DeclineReason | None
    decline_note: str | None
    first_viewed_at: UtcDatetime | None
    views: int


class Stage(BaseModel):
    role: LotRole
    providers: list[str]
    state: Literal["done", "current", "to_come"]


class HistoryEntry(BaseModel):
    at: UtcDatetime
    kind: EventKind
    actor: str
    provider_id: str | None
    offer_id: int | None
    detail: dict[str, object]


class ServiceRequest(BaseModel):
    id: int
    council_id: str
    request_ref: str
    service_user_id: str
    lot_id: str
    start_date: date
    end_date: date | None
    visits: list[WeeklyVisit]
    weekly_hours: float = Field(description="Carers x minutes per week / 60.")
    notes: str
    status: RequestStatus
    source: str
    created_by: str
    created_at: UtcDatetime
    placed_at: UtcDatetime | None
    placed_with: str | None
    placed_role: LotRole | None
    closed_at: UtcDatetime | None
    close_reason: str | None
    package_id: int | None
    cascade: list[Stage] = Field(description="Empty for a provider: others' places are not its.")
    offers: list[Offer] = Field(description="A provider sees its own offers only.")
    history: list[HistoryEntry] = Field(description="A provider sees its own offers' steps only.")


class RequestSummary(BaseModel):
    id: int
    council_id: str
    request_ref: str
    service_user_id: str
    lot_id: str
    start_date: date
    weekly_hours: float
    status: RequestStatus
    created_at: UtcDatetime
    placed_with: str | None
    open_offers: list[str] = Field(description="Providers holding an open offer (council view).")
    next_deadline: UtcDatetime | None


class RequestList(BaseModel):
    items: list[RequestSummary]
    next_offset: int | None


class ProviderOffer(BaseModel):
    """An offer as its provider sees it, with what it needs to decide."""

    offer: Offer
    request_ref: str
    council_id: str
    lot_id: str
    service_user_id: str
    start_date: date
    end_date: date | None
    visits: list[WeeklyVisit]
    weekly_hours: float
    notes: str
    package_id: int | None = Field(description="Set once this provider's acceptance placed it.")


class ProviderOfferList(BaseModel):
    items: list[ProviderOffer]
    next_offset: int | None


class PackageVersion(BaseModel):
    version: int
    change: Literal["accepted", "changed", "ended"]
    effective_from: date
    start_date: date
    end_date: date | None
    visits: list[WeeklyVisit]
    weekly_hours: float
    made_by: str
    made_at: UtcDatetime
    current: bool


class Package(BaseModel):
    id: int
    request_id: int
    request_ref: str
    council_id: str
    provider_id: str
    service_user_id: str
    lot_id: str
    role: LotRole
    planned_until: date = Field(description="Planned visits are written up to this London day.")
    versions: list[PackageVersion]


class PackageList(BaseModel):
    items: list[Package]
    next_offset: int | None


class RequestImportError(BaseModel):
    line: int
    request_ref: str | None
    reason: str


class RequestImport(BaseModel):
    import_id: int | None
    rows_read: int
    requests_created: int
    requests_unchanged: int
    rejected: int
    errors: list[RequestImportError]


class LotMonitoring(BaseModel):
    lot_id: str | None = Field(description="null: all lots together.")
    requests_made: int
    offered_to_lead: int
    lead_accepted_in_time: int
    lead_in_time_share: float | None
    placed: int
    median_hours_to_accept: float | None
    unplaced_after_n_days: int
    weekly_hours_lead: float
    weekly_hours_additional: float
    weekly_hours_dps: float
    declines: dict[str, int]


class MonitoringReport(BaseModel):
    council_id: str
    first_day: date = Field(alias="from")
    last_day: date = Field(alias="to")
    unplaced_after_days: int
    lots: list[LotMonitoring]

    model_config = ConfigDict(populate_by_name=True)


class RequestDelivery(BaseModel):
    id: int
    notification_id: int
    event: str
    request_id: int
    offer_id: int | None
    endpoint_id: int
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: UtcDatetime
    delivered_at: UtcDatetime | None


class RequestDeliveryList(BaseModel):
    items: list[RequestDelivery]
