"""Monitoring KPIs per provider, lot and London day.

The daily counts live in kpi_daily, a summary table the builder maintains for every (provider,
day) whose visits it rewrote (on TimescaleDB a continuous aggregate could replace it, but visits
are rewritten rather than appended, which continuous aggregates do not follow cheaply). Ratios
over a period are computed from the sums, never averaged from daily ratios; continuity of carer
needs the carers' stays themselves and is computed from them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection

from visits import kpi_store


def refresh_days(conn: Connection, touched: Collection[tuple[str, date]]) -> None:
    """Recount kpi_daily for the (provider, day) pairs whose visits were rewritten."""
    kpi_store.refresh_days(conn, touched)


@dataclass
class ProviderKpis:
    provider_id: str
    lot: str | None
    planned: int = 0
    delivered: int = 0
    on_time_15: int = 0
    on_time_30: int = 0
    missed: int = 0
    unplanned: int = 0
    planned_minutes: int = 0
    delivered_planned_minutes: int = 0
    delivered_minutes: int = 0
    tag_or_code_verified: int = 0
    continuity_of_carer: float | None = None
    lot_hours_share: float | None = None
    days: list[dict[str, object]] = field(default_factory=list)

    @property
    def on_time_15_share(self) -> float | None:
        return _share(self.on_time_15, self.planned)

    @property
    def on_time_30_share(self) -> float | None:
        return _share(self.on_time_30, self.planned)

    @property
    def planned_minutes_delivered_share(self) -> float | None:
        return _share(self.delivered_planned_minutes, self.planned_minutes)

    @property
    def tag_or_code_verified_share(self) -> float | None:
        return _share(self.tag_or_code_verified, self.delivered + self.unplanned)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


_COUNTS = (
    "planned",
    "delivered",
    "on_time_15",
    "on_time_30",
    "missed",
    "unplanned",
    "planned_minutes",
    "delivered_planned_minutes",
    "delivered_minutes",
    "tag_or_code_verified",
)


def council_kpis(
    conn: Connection,
    council_id: str,
    first: date,
    last: date,
    *,
    provider_id: str | None = None,
) -> list[ProviderKpis]:
    """One entry per provider and lot of the council over [first, last] (London days)."""
    rows = kpi_store.daily_counts(conn, council_id, first, last, _COUNTS, provider_id)
    found: dict[tuple[str, str], ProviderKpis] = {}
    for row in rows:
        key = (row["provider_id"], row["lot"])
        entry = found.setdefault(key, ProviderKpis(row["provider_id"], row["lot"] or None))
        for name in _COUNTS:
            setattr(entry, name, getattr(entry, name) + row[name])
        entry.days.append(
            {"london_day": row["london_day"], **{name: row[name] for name in _COUNTS}}
        )
    continuity = kpi_store.continuity(conn, council_id, first, last, provider_id)
    # A lot's hours are every provider's delivered minutes in it, even when one provider asked.
    lot_minutes = kpi_store.lot_minutes(conn, council_id, first, last)
    for (provider, lot), entry in found.items():
        share = continuity.get(provider)
        entry.continuity_of_carer = round(share, 4) if share is not None else None
        total = lot_minutes.get(lot) or 0
        entry.lot_hours_share = round(entry.delivered_minutes / total, 4) if total else None
    return list(found.values())
