"""All SQL of the KPIs: kpi_daily, the summary table the builder maintains, and the reads over
it and the visit tables. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

from sqlalchemy import Connection, RowMapping, text

from core.vocabulary import Verification, VisitStatus

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
    count(*) filter (where v.status = '{VisitStatus.MISSED}'),
    count(*) filter (where v.planned_visit_ref is null),
    coalesce(sum(v.planned_minutes), 0),
    coalesce(sum(least(coalesce(v.minutes, 0), v.planned_minutes))
        filter (where v.planned_visit_ref is not null), 0),
    coalesce(sum(v.minutes), 0),
    count(*) filter (where v.check_in is not null
        and v.verification in ('{Verification.TAG}', '{Verification.CODE}'))
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


def daily_counts(
    conn: Connection,
    council_id: str,
    first: date,
    last: date,
    counts: Sequence[str],
    provider_id: str | None,
) -> list[RowMapping]:
    """The council's kpi_daily rows over [first, last] (optionally one provider's), by provider,
    lot and day; `counts` names the count columns wanted."""
    rows = conn.execute(
        text(
            f"select provider_id, lot, london_day, {', '.join(counts)} from kpi_daily "
            "where council_id = :council and london_day between :from and :to "
            "and (cast(:provider as text) is null or provider_id = :provider) "
            "order by provider_id, lot, london_day"
        ),
        {"council": council_id, "from": first, "to": last, "provider": provider_id},
    ).mappings()
    return list(rows)


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


def continuity(
    conn: Connection, council_id: str, first: date, last: date, provider_id: str | None
) -> dict[str, float | None]:
    """Per provider: the share of stays by each home's main carer."""
    params = {"council": council_id, "from": first, "to": last, "provider": provider_id}
    return {row[0]: row[1] for row in conn.execute(text(_CONTINUITY), params)}


def lot_minutes(conn: Connection, council_id: str, first: date, last: date) -> dict[str, int]:
    """Delivered minutes per lot of the council over [first, last], every provider's."""
    rows = conn.execute(
        text(
            "select lot, sum(delivered_minutes) from kpi_daily where council_id = :council "
            "and london_day between :from and :to group by lot"
        ),
        {"council": council_id, "from": first, "to": last},
    )
    return {row[0]: row[1] for row in rows}
