"""The visits API's shapes: the domain's results (visits.views) as they go on the wire, and the
KPI report, whose `from` and `to` are not Python names."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from core.vocabulary import Verification, VisitStatus
from visits.views import (
    Alert,
    AlertList,
    CarerStay,
    Correction,
    CorrectionRequest,
    CouncilPolicy,
    KpiDay,
    ProviderKpis,
    ScheduleImport,
    ScheduleRowError,
    Visit,
    VisitAnomaly,
    VisitPage,
    VisitSummary,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryList,
    WebhookRequest,
)

__all__ = [
    "Alert",
    "AlertList",
    "CarerStay",
    "Correction",
    "CorrectionRequest",
    "CouncilPolicy",
    "KpiDay",
    "KpiReport",
    "ProviderKpis",
    "ScheduleImport",
    "ScheduleRowError",
    "Verification",
    "Visit",
    "VisitAnomaly",
    "VisitPage",
    "VisitStatus",
    "VisitSummary",
    "Webhook",
    "WebhookDelivery",
    "WebhookDeliveryList",
    "WebhookRequest",
]


class KpiReport(BaseModel):
    council_id: str
    first_day: date = Field(alias="from")
    last_day: date = Field(alias="to")
    providers: list[ProviderKpis]

    model_config = {"populate_by_name": True}
