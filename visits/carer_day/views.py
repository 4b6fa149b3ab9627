"""The carer's day as the API and the portal show it: owned by the domain (api/carer_days
re-exports it for the wire)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from core.times import UtcDatetime
from core.vocabulary import Verification


class CarerDayStay(BaseModel):
    visit_id: UUID
    service_user_id: str | None
    service_user_name: str | None
    check_in: UtcDatetime | None
    check_out: UtcDatetime | None
    minutes: int | None = Field(description="Whole minutes; null for an open stay.")
    verification: Verification


class TravelLeg(BaseModel):
    from_visit_id: UUID
    to_visit_id: UUID
    left_at: UtcDatetime = Field(description="The check-out the leg starts from.")
    arrived_at: UtcDatetime = Field(description="The next check-in.")
    gap_minutes: int
    travel_minutes: int = Field(description="Counted as working time (docs/carer-day.md).")
    unpaid_gap_minutes: int
    distance_km: float | None = Field(description="Straight line between the two homes.")
    speed_kmh: float | None = Field(description="The straight-line speed the gap implies.")


class PayCheck(BaseModel):
    hourly_rate_gbp: Decimal
    travel_paid: bool
    floor_gbp_per_hour: Decimal = Field(description="The National Living Wage that day.")
    paid_minutes: int
    worked_minutes: int = Field(description="Contact plus travel.")
    pay_gbp: Decimal
    floor_gbp: Decimal
    below_floor: bool
    shortfall_gbp: Decimal
    effective_gbp_per_hour: Decimal | None


class CarerDaySummary(BaseModel):
    carer_id: str
    carer_name: str
    day: date
    visits: int
    open_visits: int = Field(description="Stays without a check-in or a check-out.")
    first_check_in: UtcDatetime | None
    last_check_out: UtcDatetime | None
    contact_minutes: int
    travel_minutes: int
    unpaid_gap_minutes: int
    distance_km: float
    pay: PayCheck | None = Field(
        description="Null when the provider declared no pay rate in force that day."
    )


class CarerDayList(BaseModel):
    provider_id: str
    day: date
    items: list[CarerDaySummary]


class CarerDayDetail(CarerDaySummary):
    provider_id: str
    stays: list[CarerDayStay]
    legs: list[TravelLeg]


class PayRate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effective_from: date = Field(description="London day the rate applies from.")
    hourly_rate_gbp: Decimal = Field(gt=0, le=1000, decimal_places=2)
    travel_paid: bool = Field(description="Is travel between visits paid at this rate?")


class PayRateList(BaseModel):
    provider_id: str
    items: list[PayRate]


class ProviderCarerDays(BaseModel):
    provider_id: str
    provider_name: str
    carer_days: int
    withheld: bool = Field(
        description="Fewer carer-days than the smallest cell shown: figures withheld."
    )
    days_checked: int | None = Field(description="Carer-days with a declared pay rate.")
    days_below_floor: int | None
    below_floor_share: float | None
    contact_minutes: int | None
    travel_minutes: int | None
    travel_minutes_per_contact_hour: float | None
    unpaid_gap_minutes: int | None


class CouncilCarerDays(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    council_id: str
    first_day: date = Field(alias="from")
    last_day: date = Field(alias="to")
    providers: list[ProviderCarerDays]
