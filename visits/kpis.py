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

from sqlalchemy import Connection, text

_TOUCHED = "unnest(cast(:providers as text[]), cast(:days as date[])) t(provider_id, day)"
_FORGET = f"""
delete from kpi_daily k using {_TOUCHED}
where k.provider_id = t.provider_id and k.london_day = t.day
"""
_REFRESH = f"""
with touched as (select * from {_TOUCHED})
insert into kpi_daily
select v.provider_id, v.london_day, coalesce(su.council_id, ''), coalesce(cm.lot, ''),
    count(*) filter (where v.planned_visit_ref is not null),
    count(*) filter (where v.planned_visit_ref is not null and v.check_in is not null),
    count(*) filter (where v.planned_visit_ref is not null
        and v.check_in <= v.planned_start + interval '15 minutes'),
    count(*) filter (where v.planned_visit_ref is not null
        and v.check_in <= v.planned_start + interval '30 minutes'),
    count(*) filter (where v.status = 'missed'),
    count(*) filter (where v.planned_visit_ref is null),
    coalesce(sum(v.planned_minutes), 0),
    coalesce(sum(least(coalesce(v.minutes, 0), v.planned_minutes))
        filter (where v.planned_visit_ref is not null), 0),
    coalesce(sum(v.minutes), 0),
    count(*) filter (where v.check_in is not null and v.verification in ('tag', 'code'))
from visit v
join touched t on t.provider_id = v.provider_id and t.day = v.london_day
left join service_user su on su.id = v.service_user_id
left join commission cm on cm.council_id = su.council_id and cm.provider_id = v.provider_id
group by 1, 2, 3, 4
"""


def refresh_days(conn: Connection, touched: Collection[tuple[str, date]]) -> None:
    if not touched:
        return
    pairs = sorted(touched)
    params = {"providers": [p for p, _ in pairs], "days": [d for _, d in pairs]}
    conn.execute(text(_FORGET), params)
    conn.execute(text(_REFRESH), params)


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

# One pass, no self-join: the planner cannot misjudge it however fresh its statistics are.
_CONTINUITY = """
with per_carer as (
    select v.provider_id, v.home_key, vc.carer_id, count(*) as stays
    from visit v join visit_carer vc on vc.visit_id = v.id
    where v.london_day between :from and :to and vc.check_in is not null
      and v.service_user_id in (select id from service_user where council_id = :council)
      and (cast(:provider as text) is null or v.provider_id = :provider)
    group by 1, 2, 3
), per_home as (
    select provider_id, max(stays) as by_main_carer, sum(stays) as stays
    from per_carer group by provider_id, home_key
)
select provider_id, sum(by_main_carer)::float8 / nullif(sum(stays), 0)
from per_home group by 1
"""


def council_kpis(
    conn: Connection,
    council_id: str,
    first: date,
    last: date,
    *,
    provider_id: str | None = None,
) -> list[ProviderKpis]:
    """One entry per provider and lot of the council over [first, last] (London days)."""
    params = {"council": council_id, "from": first, "to": last, "provider": provider_id}
    rows = conn.execute(
        text(
            f"select provider_id, lot, london_day, {', '.join(_COUNTS)} from kpi_daily "
            "where council_id = :council and london_day between :from and :to "
            "and (cast(:provider as text) is null or provider_id = :provider) "
            "order by provider_id, lot, london_day"
        ),
        params,
    ).mappings()
    found: dict[tuple[str, str], ProviderKpis] = {}
    for row in rows:
        key = (row["provider_id"], row["lot"])
        entry = found.setdefault(key, ProviderKpis(row["provider_id"], row["lot"] or None))
        for name in _COUNTS:
            setattr(entry, name, getattr(entry, name) + row[name])
        entry.days.append(
            {"london_day": row["london_day"], **{name: row[name] for name in _COUNTS}}
        )
    continuity: dict[str, float | None] = dict(conn.execute(text(_CONTINUITY), params).all())
    # A lot's hours are every provider's delivered minutes in it, even when one provider asked.
    lot_minutes: dict[str, int] = dict(
        conn.execute(
            text(
                "select lot, sum(delivered_minutes) from kpi_daily where council_id = :council "
                "and london_day between :from and :to group by lot"
            ),
            params,
        ).all()
    )
    for (provider, lot), entry in found.items():
        share = continuity.get(provider)
        entry.continuity_of_carer = round(share, 4) if share is not None else None
        total = lot_minutes.get(lot) or 0
        entry.lot_hours_share = round(entry.delivered_minutes / total, 4) if total else None
    return list(found.values())
