"""All SQL of live alerts: the planned visits due, the check-ins that started them, the alerts
(visit_alert), their notifications (alert_notification) and the webhook deliveries queued with
each. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

_DUE = """
select p.visit_ref, p.service_user_id, p.provider_id, p.planned_start, p.status, su.council_id,
    (select min(n.planned_start) from planned_visit_version n
     where n.superseded_at is null and n.status = 'planned'
       and n.service_user_id = p.service_user_id and n.planned_start > p.planned_start
    ) as next_start
from planned_visit_version p join service_user su on su.id = p.service_user_id
where p.superseded_at is null and p.planned_start >= :from and p.planned_start <= :now
"""

_STARTED = """
select k.visit_ref from unnest(cast(:refs as text[]), cast(:homes as text[]),
    cast(:providers as text[]), cast(:froms as timestamptz[]), cast(:untils as timestamptz[]))
    k(visit_ref, home, provider, since, until)
where exists (
    select 1 from device_event e
    where e.service_user_id = k.home and e.provider_id = k.provider
      and e.event_type = 'check_in'
      and e.device_time >= k.since and e.device_time < k.until and e.device_time <= :now
)
"""


def lock_evaluation(conn: Connection) -> None:
    """One evaluation at a time."""
    conn.execute(text("select pg_advisory_xact_lock(hashtext('ecm.visits.alerts'))"))


def due_plans(conn: Connection, since: datetime, now: datetime) -> list[dict[str, Any]]:
    """Current planned visits starting in [since, now] with their home's council and its next
    planned start."""
    return [dict(r) for r in conn.execute(text(_DUE), {"from": since, "now": now}).mappings()]


def started_plans(
    conn: Connection,
    plans: Sequence[tuple[str, str, str]],
    windows: Sequence[tuple[datetime, datetime]],
    now: datetime,
) -> set[str]:
    """visit_refs of the (visit_ref, home, provider) plans with a check-in at the home by the
    provider within their (since, until) window, up to now."""
    rows = conn.execute(
        text(_STARTED),
        {
            "refs": [p[0] for p in plans],
            "homes": [p[1] for p in plans],
            "providers": [p[2] for p in plans],
            "froms": [w[0] for w in windows],
            "untils": [w[1] for w in windows],
            "now": now,
        },
    ).scalars()
    return set(rows)


def open_alerts(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(text("select * from visit_alert where cleared_at is null")).mappings()
    return [dict(r) for r in rows]


def still_planned(conn: Connection, ref: str, since: datetime, now: datetime) -> bool:
    return bool(
        conn.execute(
            text(
                "select exists (select 1 from planned_visit_version where visit_ref = :ref "
                "and superseded_at is null and status = 'planned' and planned_start <= :now "
                "and planned_start >= :from)"
            ),
            {"ref": ref, "now": now, "from": since},
        ).scalar_one()
    )


def insert_alert(conn: Connection, values: dict[str, Any]) -> dict[str, Any] | None:
    """The new alert, or None when it was raised before (an alert is raised once)."""
    row = (
        conn.execute(
            text(
                "insert into visit_alert (visit_ref, kind, provider_id, service_user_id, "
                "planned_start, threshold_at, raised_at) values (:ref, :kind, :provider, "
                ":home, :start, :threshold, :now) on conflict (visit_ref, kind) do nothing "
                "returning *"
            ),
            values,
        )
        .mappings()
        .one_or_none()
    )
    return dict(row) if row is not None else None


def clear_alert(conn: Connection, alert_id: int, now: datetime) -> None:
    conn.execute(
        text("update visit_alert set cleared_at = :now where id = :id"),
        {"now": now, "id": alert_id},
    )


def notify(
    conn: Connection, alert_id: int, provider_id: str, action: str, at: datetime, payload: str
) -> None:
    """A notification (payload: JSON text), and one delivery per active webhook endpoint of the
    provider."""
    notification_id = conn.execute(
        text(
            "insert into alert_notification (alert_id, provider_id, action, at, payload) "
            "values (:alert, :provider, :action, :at, cast(:payload as jsonb)) returning id"
        ),
        {
            "alert": alert_id,
            "provider": provider_id,
            "action": action,
            "at": at,
            "payload": payload,
        },
    ).scalar_one()
    conn.execute(
        text(
            "insert into webhook_delivery (notification_id, endpoint_id, next_attempt_at) "
            "select :n, id, :now from webhook_endpoint where provider_id = :provider and active"
        ),
        {"n": notification_id, "now": at, "provider": provider_id},
    )
