"""A council's KPIs as its officers read them: per provider (by name) and lot, the period's
figures and each week's, judged red, amber or green against the contract's targets
(reconciliation.kpi_targets), and the same as CSV for a spreadsheet.

The counts are the visits domain's (visits.service.council_kpis, the API's own KPI figures,
with the same access rules); this adds the targets, names and weeks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection

from core.access import Scope
from core.csv_safe import csv_bytes
from gateway.registry import names as registry_names
from reconciliation import run_store
from reconciliation.kpi_targets import RAG_WORDS, Target, targets_of
from visits import service as visit_service
from visits.freshness import VisitFreshness
from visits.kpis import WeekKpis, weekly
from visits.views import ProviderKpis

MEASURES: dict[str, Callable[[Any], float | None]] = {
    "on_time_15": lambda k: k.on_time_15_share,
    "delivered_minutes": lambda k: k.planned_minutes_delivered_share,
    "verified": lambda k: k.tag_or_code_verified_share,
    "missed": lambda k: (k.missed / k.planned) if k.planned else None,
}


@dataclass(frozen=True)
class Figure:
    value: float | None
    rag: str | None  # green | amber | red, None without visits

    @property
    def rag_words(self) -> str:
        return RAG_WORDS.get(self.rag or "", "No visits")


@dataclass(frozen=True)
class ProviderReport:
    provider_id: str
    name: str
    lot: str | None
    period: ProviderKpis
    figures: dict[str, Figure]
    weeks: list[WeekKpis]
    week_figures: dict[str, list[Figure]]


@dataclass(frozen=True)
class CouncilReport:
    council_id: str
    first_day: date
    last_day: date
    targets: dict[str, Target]
    weeks: list[date]
    providers: list[ProviderReport]


def _figure(target: Target, value: float | None) -> Figure:
    return Figure(value, target.rag(value))


def council_report(
    conn: Connection,
    freshness: VisitFreshness,
    scope: Scope,
    council_id: str,
    first_day: date,
    last_day: date,
) -> CouncilReport:
    entries = visit_service.council_kpis(conn, freshness, scope, council_id, first_day, last_day)
    stored = run_store.contract(conn, council_id)
    targets = targets_of(stored["content"] if stored is not None else None)
    names = registry_names.lookup(conn, providers=[e.provider_id for e in entries])
    providers = []
    for entry in entries:
        weeks = weekly(entry.days, first_day, last_day)
        providers.append(
            ProviderReport(
                provider_id=entry.provider_id,
                name=names.provider(entry.provider_id) or entry.provider_id,
                lot=entry.lot,
                period=entry,
                figures={m: _figure(targets[m], read(entry)) for m, read in MEASURES.items()},
                weeks=weeks,
                week_figures={
                    m: [_figure(targets[m], read(w)) for w in weeks] for m, read in MEASURES.items()
                },
            )
        )
    providers.sort(key=lambda p: (p.name.casefold(), p.lot or ""))
    mondays = [w.week_start for w in weekly([], first_day, last_day)]
    return CouncilReport(council_id, first_day, last_day, targets, mondays, providers)


CSV_COLUMNS = (
    "Provider",
    "Provider name",
    "Lot",
    "Week starting",
    "Planned visits",
    "Delivered",
    "Missed",
    "Started within 15 min (%)",
    "Started within 15 min: against target",
    "Planned minutes delivered (%)",
    "Planned minutes delivered: against target",
    "Verified by tag or code (%)",
    "Verified by tag or code: against target",
    "Missed (%)",
    "Missed: against target",
)


def _percent(value: float | None) -> object:
    return "" if value is None else round(value * 100, 1)


def report_csv(report: CouncilReport) -> bytes:
    """One row per provider, lot and week, then one for the whole period ("all")."""
    rows: list[list[object]] = []
    for provider in report.providers:
        spans: list[tuple[str, Any, dict[str, Figure]]] = [
            (
                week.week_start.isoformat(),
                week,
                {m: figures[i] for m, figures in provider.week_figures.items()},
            )
            for i, week in enumerate(provider.weeks)
        ]
        spans.append(("all", provider.period, provider.figures))
        for label, counts, figures in spans:
            row: list[object] = [
                provider.provider_id,
                provider.name,
                provider.lot or "",
                label,
                counts.planned,
                counts.delivered,
                counts.missed,
            ]
            for measure in MEASURES:
                figure = figures[measure]
                row += [_percent(figure.value), RAG_WORDS.get(figure.rag or "", "")]
            rows.append(row)
    return csv_bytes(CSV_COLUMNS, rows)
