"""The carer's day on the wire: the domain's views (visits.carer_day.views)."""

from __future__ import annotations

from visits.carer_day.views import (
    CarerDayDetail,
    CarerDayList,
    CarerDayStay,
    CarerDaySummary,
    CouncilCarerDays,
    PayCheck,
    PayRate,
    PayRateList,
    ProviderCarerDays,
    TravelLeg,
)

__all__ = [
    "CarerDayDetail",
    "CarerDayList",
    "CarerDayStay",
    "CarerDaySummary",
    "CouncilCarerDays",
    "PayCheck",
    "PayRate",
    "PayRateList",
    "ProviderCarerDays",
    "TravelLeg",
]
