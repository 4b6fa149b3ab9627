from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class SubjectAccessExport(BaseModel):
    """Every record about one service user, one list per kind of record."""

    format: int = Field(description="Version of this document's layout.", examples=[1])
    service_user_id: str
    generated_at: datetime
    counts: dict[str, int] = Field(description="Records in each list.")
    service_user: list[dict[str, Any]]
    home_tags: list[dict[str, Any]]
    home_code_devices: list[dict[str, Any]]
    planned_visits: list[dict[str, Any]]
    visits: list[dict[str, Any]]
    visit_carers: list[dict[str, Any]]
    visit_anomalies: list[dict[str, Any]]
    visit_corrections: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    alert_notifications: list[dict[str, Any]]
    alert_actions: list[dict[str, Any]] = Field(description="Each action taken on the alerts.")
    manual_visits: list[dict[str, Any]] = Field(
        description="Visits recorded by hand for a late or missed alert."
    )
    events: list[dict[str, Any]] = Field(description="Device events (the evidence), in full.")
    telephony_calls: list[dict[str, Any]] = Field(
        description="Calls from the person's landline (telephone check-in)."
    )
    telephony_events: list[dict[str, Any]] = Field(
        description="The events those calls made, as the bridge signed them."
    )
    service_requests: list[dict[str, Any]] = Field(
        description="Service requests for the person's care, and the offers and history of each."
    )
    service_offers: list[dict[str, Any]]
    service_request_events: list[dict[str, Any]]
    care_packages: list[dict[str, Any]]
    care_package_versions: list[dict[str, Any]]
    reconciliation_lines: list[dict[str, Any]]
    reconciliation_evidence: list[dict[str, Any]]
    reconciliation_unbilled: list[dict[str, Any]]
    erasure_requests: list[dict[str, Any]]
    accesses: list[dict[str, Any]] = Field(
        description="Audit entries of requests addressed to this person's records."
    )


class KeptRecords(BaseModel):
    what: str
    rows: dict[str, int] | None = None
    until: datetime | None = None
    why: str


class ErasureReport(BaseModel):
    id: int
    service_user_id: str
    council_id: str | None
    requested_by: str
    requested_at: datetime
    care_ended: datetime
    pseudonymised: dict[str, int] = Field(description="Rows pseudonymised, by table.")
    deleted: dict[str, int] = Field(description="Rows deleted, by table.")
    kept: list[KeptRecords] = Field(description="What stays, until when, and why.")
