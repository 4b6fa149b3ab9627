"""All SQL of the carer's day. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, text

from visits.carer_day.pay import ProviderRate
from visits.carer_day.rules import CarerStay


def stays(
    conn: Connection,
    provider_id: str,
    start: datetime,
    end: datetime,
    carer_ids: Collection[str] | None = None,
) -> list[CarerStay]:
    """The provider's carers' stays that start (check-in, else check-out) in [start, end), with
    their homes' coordinates."""
    rows = conn.execute(
        text(
            "select vc.visit_id, vc.carer_id, v.service_user_id, vc.check_in, vc.check_out, "
            "su.home_lat, su.home_lon, vc.verification, su.name from visit_carer vc "
            "join visit v on v.id = vc.visit_id "
            "left join service_user su on su.id = v.service_user_id "
            "where v.provider_id = :p and coalesce(vc.check_in, vc.check_out) >= :start "
            "and coalesce(vc.check_in, vc.check_out) < :end "
            "and (cast(:carers as text[]) is null or vc.carer_id = any(cast(:carers as text[])))"
        ),
        {
            "p": provider_id,
            "start": start,
            "end": end,
            "carers": None if carer_ids is None else list(carer_ids),
        },
    )
    return [CarerStay(*row) for row in rows]


def carer_names(conn: Connection, provider_id: str) -> dict[str, str]:
    rows = conn.execute(
        text("select id, name from carer where provider_id = :p"), {"p": provider_id}
    )
    return {carer_id: name for carer_id, name in rows}


def carer_of_provider(conn: Connection, provider_id: str, carer_id: str) -> str | None:
    """The carer's name when the carer works for the provider."""
    return conn.execute(
        text("select name from carer where id = :c and provider_id = :p"),
        {"c": carer_id, "p": provider_id},
    ).scalar_one_or_none()


def provider_rates(conn: Connection, provider_id: str) -> list[ProviderRate]:
    rows = conn.execute(
        text(
            "select effective_from, hourly_rate_pence, travel_paid from provider_pay_rate "
            "where provider_id = :p order by effective_from"
        ),
        {"p": provider_id},
    )
    return [ProviderRate(*row) for row in rows]


def set_provider_rate(conn: Connection, provider_id: str, rate: ProviderRate, set_by: str) -> None:
    conn.execute(
        text(
            "insert into provider_pay_rate (provider_id, effective_from, hourly_rate_pence, "
            "travel_paid, set_by) values (:p, :from, :pence, :travel, :by) "
            "on conflict (provider_id, effective_from) do update set "
            "hourly_rate_pence = excluded.hourly_rate_pence, "
            "travel_paid = excluded.travel_paid, set_by = excluded.set_by, set_at = now()"
        ),
        {
            "p": provider_id,
            "from": rate.effective_from,
            "pence": rate.pence_per_hour,
            "travel": rate.travel_paid,
            "by": set_by,
        },
    )


def commissioned_providers(conn: Connection, council_id: str) -> list[tuple[str, str]]:
    """(provider id, name) of the providers the council commissions."""
    rows = conn.execute(
        text(
            "select p.id, p.name from commission c join provider p on p.id = c.provider_id "
            "where c.council_id = :c order by p.id"
        ),
        {"c": council_id},
    )
    return [(pid, name) for pid, name in rows]


def council_exists(conn: Connection, council_id: str) -> bool:
    return (
        conn.execute(text("select 1 from council where id = :c"), {"c": council_id}).first()
        is not None
    )
