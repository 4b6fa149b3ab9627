"""The monitoring report for contract management, per lot, as the API, the portal and
monitoring.csv give it (rules in commissioning.monitoring)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from commissioning import repository as store
from commissioning import service
from commissioning.access import acting_council
from commissioning.exchange import london_window
from commissioning.formats import write_csv
from commissioning.model import DeclineReason, LotRole, pattern_from_json, weekly_hours
from commissioning.monitoring import LotFigures, RequestFacts, lot_figures
from commissioning.views import LotMonitoring, MonitoringReport
from core.access import Scope
from gateway.registry import lot_repository

DEFAULT_UNPLACED_AFTER_DAYS = 7


def _entry(figures: LotFigures) -> LotMonitoring:
    median = figures.median_hours_to_accept
    return LotMonitoring(
        lot_id=figures.lot_id,
        requests_made=figures.requests_made,
        offered_to_lead=figures.offered_to_lead,
        lead_accepted_in_time=figures.lead_accepted_in_time,
        lead_in_time_share=figures.lead_in_time_share,
        placed=figures.placed,
        median_hours_to_accept=round(median, 2) if median is not None else None,
        unplaced_after_n_days=figures.unplaced_after_n_days,
        weekly_hours_lead=round(figures.weekly_hours[LotRole.LEAD], 2),
        weekly_hours_additional=round(figures.weekly_hours[LotRole.ADDITIONAL], 2),
        weekly_hours_dps=round(figures.weekly_hours[LotRole.DPS], 2),
        declines=dict(figures.declines),
    )


def monitoring(
    conn: Connection,
    caller: Scope,
    council_id: str | None,
    first: date,
    last: date,
    *,
    unplaced_after_days: int,
    now: datetime,
) -> MonitoringReport:
    council = acting_council(caller, council_id)
    start, end = london_window(first, last)
    service.advance(conn, now=now)
    facts = [
        RequestFacts(
            lot_id=row["lot_id"],
            created_at=row["created_at"],
            lead_offered=row["lead_offered"],
            lead_accepted_in_time=row["lead_accepted_in_time"],
            placed_at=row["placed_at"],
            placed_role=LotRole(row["placed_role"]) if row["placed_role"] else None,
            withdrawn_at=row["withdrawn_at"],
            weekly_hours=weekly_hours(pattern_from_json(row["visits"])),
            declines=tuple(row["declines"]),
        )
        for row in store.request_facts(conn, council, start, end)
    ]
    figures = lot_figures(
        facts,
        lots=lot_repository.lot_ids(conn, council),
        unplaced_after=timedelta(days=unplaced_after_days),
        now=now,
    )
    return MonitoringReport.model_validate(
        {
            "council_id": council,
            "from": first,
            "to": last,
            "unplaced_after_days": unplaced_after_days,
            "lots": [_entry(f) for f in figures],
        }
    )


MONITORING_COLUMNS = (
    "council_ref",
    "lot_ref",
    "from",
    "to",
    "requests_made",
    "offered_to_lead",
    "lead_accepted_in_time",
    "lead_in_time_share",
    "placed",
    "median_hours_to_accept",
    "n_days",
    "unplaced_after_n_days",
    "weekly_hours_lead",
    "weekly_hours_additional",
    "weekly_hours_dps",
    *(f"declined_{reason.value}" for reason in DeclineReason),
)


def monitoring_csv(report: MonitoringReport) -> str:
    return write_csv(
        MONITORING_COLUMNS,
        (
            (
                report.council_id,
                entry.lot_id or "ALL",
                report.first_day.isoformat(),
                report.last_day.isoformat(),
                entry.requests_made,
                entry.offered_to_lead,
                entry.lead_accepted_in_time,
                "" if entry.lead_in_time_share is None else f"{entry.lead_in_time_share:.4f}",
                entry.placed,
                ""
                if entry.median_hours_to_accept is None
                else f"{entry.median_hours_to_accept:.2f}",
                report.unplaced_after_days,
                entry.unplaced_after_n_days,
                f"{entry.weekly_hours_lead:.2f}",
                f"{entry.weekly_hours_additional:.2f}",
                f"{entry.weekly_hours_dps:.2f}",
                *(entry.declines.get(reason.value, 0) for reason in DeclineReason),
            )
            for entry in report.lots
        ),
    )
