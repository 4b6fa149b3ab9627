"""Visit read SQL over the tables the visit builder maintains: visits, their summary, alerts,
notifications and webhook deliveries. Callers own the transaction."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Result, text

from core.times import Window
from visits.views import (
    Alert,
    CarerStay,
    DuePlan,
    Visit,
    VisitAnomaly,
    VisitSummary,
    WebhookDelivery,
)

_VISIT_COLUMNS = (
    "id, provider_id, service_user_id, london_day, planned_visit_ref, planned_start, "
    "planned_minutes, carers_required, check_in, check_out, minutes, status, verification, "
    "corrections_pending"
)


def _condition(
    provider_id: str,
    day: date | None,
    service_user_id: str | None,
    carer_id: str | None,
    status: str | None,
) -> tuple[str, dict[str, Any]]:
    clauses = ["v.provider_id = :provider_id"]
    params: dict[str, Any] = {"provider_id": provider_id}
    if day is not None:
        clauses.append("v.london_day = :day")
        params["day"] = day
    if service_user_id is not None:
        clauses.append("v.service_user_id = :service_user_id")
        params["service_user_id"] = service_user_id
    if carer_id is not None:
        clauses.append(
            "exists (select 1 from visit_carer f where f.visit_id = v.id "
            "and f.carer_id = :carer_id)"
        )
        params["carer_id"] = carer_id
    if status is not None:
        clauses.append("v.status = :status")
        params["status"] = status
    return " and ".join(clauses), params


def _page(
    conn: Connection,
    select: str,
    provider_id: str,
    day: date | None,
    service_user_id: str | None,
    carer_id: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> Result[Any]:
    """One page of a provider's visits in list order, each row as `select` makes it."""
    condition, params = _condition(provider_id, day, service_user_id, carer_id, status)
    return conn.execute(
        text(
            f"select {select} from visit v where {condition} "
            "order by coalesce(v.check_in, v.check_out, v.planned_start), v.id "
            "limit :limit offset :offset"
        ),
        {**params, "limit": limit, "offset": offset},
    )


def list_visits(
    conn: Connection,
    provider_id: str,
    *,
    day: date | None = None,
    service_user_id: str | None = None,
    carer_id: str | None = None,
    status: str | None = None,
    limit: int,
    offset: int,
) -> list[Visit]:
    page = _page(
        conn, _VISIT_COLUMNS, provider_id, day, service_user_id, carer_id, status, limit, offset
    )
    return _with_details(conn, [dict(r) for r in page.mappings()])


def _instant(column: str) -> str:
    """A timestamptz as pydantic writes an aware UTC datetime: ...T09:00:00Z, or .123400Z."""
    utc = f"({column} at time zone 'UTC')"
    return (
        f"case when {column} is null then null else "
        f"""to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS') || """
        f"case when extract(microseconds from {column})::bigint % 1000000 = 0 then '' "
        f"else to_char({utc}, '.US') end || 'Z' end"
    )


# One visit as the JSON of schemas.Visit, built by PostgreSQL: a week of a provider's visits
# is some hundreds of rows with their carers and anomalies, and turning each into Python
# objects and back into JSON took most of the request. tests/api/test_visits_json.py checks
# that this and Visit.model_dump_json() give the same document.
_VISIT_JSON = f"""
json_build_object(
    'id', v.id, 'provider_id', v.provider_id, 'service_user_id', v.service_user_id,
    'london_day', v.london_day, 'planned_visit_ref', v.planned_visit_ref,
    'planned_start', {_instant("v.planned_start")}, 'planned_minutes', v.planned_minutes,
    'carers_required', v.carers_required, 'check_in', {_instant("v.check_in")},
    'check_out', {_instant("v.check_out")}, 'minutes', v.minutes, 'status', v.status,
    'verification', v.verification, 'corrections_pending', v.corrections_pending,
    'carers', coalesce((
        select json_agg(json_build_object(
            'carer_id', c.carer_id, 'device_id', c.device_id,
            'check_in', {_instant("c.check_in")}, 'check_out', {_instant("c.check_out")},
            'check_in_event_id', c.check_in_event_id,
            'check_out_event_id', c.check_out_event_id,
            'verification', c.verification, 'correction_id', c.correction_id
        ) order by coalesce(c.check_in, c.check_out), c.carer_id)
        from visit_carer c where c.visit_id = v.id
    ), '[]'),
    'anomalies', coalesce((
        select json_agg(json_build_object(
            'code', a.code, 'carer_id', a.carer_id, 'event_id', a.event_id, 'detail', a.detail
        ) order by a.id)
        from visit_anomaly a where a.visit_id = v.id
    ), '[]')
)::text
"""


def list_visits_json(
    conn: Connection,
    provider_id: str,
    *,
    day: date | None = None,
    service_user_id: str | None = None,
    carer_id: str | None = None,
    status: str | None = None,
    limit: int,
    offset: int,
) -> list[str]:
    """What list_visits returns, each visit as its JSON text."""
    page = _page(
        conn, _VISIT_JSON, provider_id, day, service_user_id, carer_id, status, limit, offset
    )
    return list(page.scalars())


def get_visit(conn: Connection, provider_id: str, visit_id: UUID) -> Visit | None:
    rows = [
        dict(r)
        for r in conn.execute(
            text(f"select {_VISIT_COLUMNS} from visit v where v.id = :id and v.provider_id = :p"),
            {"id": visit_id, "p": provider_id},
        ).mappings()
    ]
    found = _with_details(conn, rows)
    return found[0] if found else None


def _with_details(conn: Connection, rows: list[dict[str, Any]]) -> list[Visit]:
    ids = [row["id"] for row in rows]
    stays: dict[UUID, list[CarerStay]] = defaultdict(list)
    for r in conn.execute(
        text(
            "select visit_id, carer_id, device_id, check_in, check_out, check_in_event_id, "
            "check_out_event_id, verification, correction_id from visit_carer "
            "where visit_id = any(:ids) order by coalesce(check_in, check_out), carer_id"
        ),
        {"ids": ids},
    ).mappings():
        stays[r["visit_id"]].append(CarerStay.model_validate(dict(r)))
    anomalies: dict[UUID, list[VisitAnomaly]] = defaultdict(list)
    for r in conn.execute(
        text(
            "select visit_id, code, carer_id, event_id, detail from visit_anomaly "
            "where visit_id = any(:ids) order by id"
        ),
        {"ids": ids},
    ).mappings():
        anomalies[r["visit_id"]].append(VisitAnomaly.model_validate(dict(r)))
    return [
        Visit.model_validate({**row, "carers": stays[row["id"]], "anomalies": anomalies[row["id"]]})
        for row in rows
    ]


def summarise_visits(
    conn: Connection,
    provider_id: str,
    *,
    day: date | None,
    service_user_id: str | None,
    carer_id: str | None,
) -> VisitSummary:
    condition, params = _condition(provider_id, day, service_user_id, carer_id, None)
    by_status: dict[str, int] = dict(
        conn.execute(
            text(f"select v.status, count(*) from visit v where {condition} group by 1"), params
        ).all()
    )
    stay_filter = " and vc.carer_id = :carer_id" if carer_id is not None else ""
    complete, open_ = conn.execute(
        text(
            "select count(*) filter (where vc.check_in is not null and vc.check_out is not null),"
            " count(*) filter (where vc.check_in is null or vc.check_out is null) "
            f"from visit v join visit_carer vc on vc.visit_id = v.id where {condition}"
            f"{stay_filter}"
        ),
        params,
    ).one()
    return VisitSummary(complete=complete, open=open_, by_status=by_status)


def list_alerts(conn: Connection, provider_id: str, *, open_only: bool) -> list[Alert]:
    rows = conn.execute(
        text(
            "select id, visit_ref, kind, service_user_id, planned_start, threshold_at, "
            "raised_at, cleared_at from visit_alert where provider_id = :p "
            + ("and cleared_at is null " if open_only else "")
            + "order by raised_at desc, id desc limit 1000"
        ),
        {"p": provider_id},
    ).mappings()
    return [Alert.model_validate(dict(r)) for r in rows]


def notifications_after(
    conn: Connection, provider_id: str, after: int, limit: int = 100
) -> list[tuple[int, str, str]]:
    rows = conn.execute(
        text(
            "select id, action, payload::text from alert_notification "
            "where provider_id = :p and id > :after order by id limit :limit"
        ),
        {"p": provider_id, "after": after, "limit": limit},
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def latest_notification(conn: Connection, provider_id: str) -> int:
    value = conn.execute(
        text("select coalesce(max(id), 0) from alert_notification where provider_id = :p"),
        {"p": provider_id},
    ).scalar_one()
    return int(value)


def visit_council(conn: Connection, visit_id: UUID) -> str | None:
    value: str | None = conn.execute(
        text(
            "select su.council_id from visit v join service_user su on su.id = v.service_user_id"
            " where v.id = :id"
        ),
        {"id": visit_id},
    ).scalar_one_or_none()
    return value


def list_deliveries(conn: Connection, provider_id: str) -> list[WebhookDelivery]:
    rows = conn.execute(
        text(
            "select d.id, d.notification_id, d.endpoint_id, d.status, d.attempts, "
            "d.next_attempt_at, d.delivered_at from webhook_delivery d "
            "join webhook_endpoint e on e.id = d.endpoint_id where e.provider_id = :p "
            "order by d.id desc limit 1000"
        ),
        {"p": provider_id},
    ).mappings()
    return [WebhookDelivery.model_validate(dict(r)) for r in rows]


def planned_between(conn: Connection, provider_id: str, window: Window) -> list[DuePlan]:
    """The provider's current planned visits (not cancelled) starting in the window."""
    rows = conn.execute(
        text(
            "select visit_ref, service_user_id, planned_start, planned_minutes, carers_required "
            "from planned_visit_version where superseded_at is null and status = 'planned' "
            "and provider_id = :provider and planned_start >= :start and planned_start < :end "
            "order by planned_start, visit_ref"
        ),
        {"provider": provider_id, "start": window.start, "end": window.end},
    )
    return [DuePlan(*row) for row in rows]


def complete_stays(
    conn: Connection, first: date, last: date, provider_id: str | None
) -> list[tuple[str, str, str, datetime, datetime, str]]:
    """(service user, provider, carer, check-in, check-out, verification) of complete carer
    stays of visits on London days [first, last], in actuals.csv order."""
    rows = conn.execute(
        text(
            "select v.service_user_id, v.provider_id, vc.carer_id, vc.check_in, vc.check_out, "
            "vc.verification from visit v join visit_carer vc on vc.visit_id = v.id "
            "where v.london_day between :first and :last and v.service_user_id is not null "
            "and vc.check_in is not null and vc.check_out is not null "
            "and (cast(:provider as text) is null or v.provider_id = :provider) "
            "order by vc.check_in, v.service_user_id, vc.carer_id"
        ),
        {"first": first, "last": last, "provider": provider_id},
    )
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def planned_rows(
    conn: Connection, start: datetime, end: datetime, provider_id: str | None
) -> list[tuple[str, str, str, datetime, int, int, str]]:
    """Current, not cancelled, planned visits starting in [start, end), in schedule.csv order."""
    rows = conn.execute(
        text(
            "select visit_ref, service_user_id, provider_id, planned_start, planned_minutes, "
            "carers_required, service_type from planned_visit_version "
            "where superseded_at is null and status = 'planned' "
            "and planned_start >= :start and planned_start < :end "
            "and (cast(:provider as text) is null or provider_id = :provider) "
            "order by planned_start, visit_ref"
        ),
        {"start": start, "end": end, "provider": provider_id},
    )
    return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
